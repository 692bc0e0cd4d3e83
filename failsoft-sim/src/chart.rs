//! The replay's chart: offered load and capacity over the day, one panel
//! per fleet, one line per strategy (SVG).

use plotters::prelude::*;

use super::report::{Panel, Report};

/// Minutes averaged per plotted point: smooths minute-to-minute noise.
const BUCKET: usize = 5;
const WIDTH: u32 = 1200;
const PANEL_HEIGHT: u32 = 380;

/// The palette of strategies, worst to best.
const COLORS: [RGBColor; 10] = [
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(188, 189, 34),
    RGBColor(44, 160, 44),
    RGBColor(31, 119, 180),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(127, 127, 127),
];

fn bucketed(v: &[f64], start_hour: f64) -> Vec<(f64, f64)> {
    v.chunks(BUCKET)
        .enumerate()
        .map(|(i, c)| {
            let hour = start_hour + (i * BUCKET) as f64 / 60.0 + c.len() as f64 / 120.0;
            (hour, c.iter().sum::<f64>() / c.len() as f64)
        })
        .collect()
}

fn title(p: &Panel) -> String {
    let what = match p.fleet {
        super::Fleet::Vacuums => "Robot vacuums (edge lane)",
        super::Fleet::Streaming => "Streaming apps (core + auth lanes)",
        super::Fleet::Tickets => "Ticket site waiting room (edge lane)",
        super::Fleet::Clients => "Open-loop clients",
    };
    format!("{what}: attempts reaching the backend vs. capacity")
}

/// Renders `report`'s chart as an SVG document; `start_hour` is the time of
/// day of the first minute.
pub(crate) fn svg(report: &Report, start_hour: f64) -> Result<String, String> {
    let mut out = String::new();
    let panels = report.chart.len().max(1) as u32;
    {
        let root = SVGBackend::with_string(&mut out, (WIDTH, PANEL_HEIGHT * panels + 50))
            .into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let header = format!(
            "7 Dec 2021 replay (seed {}, scale {}): load offered by each client strategy, capacity left",
            report.seed, report.scale
        );
        root.draw(&Text::new(header, (20, 14), ("sans-serif", 22).into_font()))
            .map_err(|e| e.to_string())?;
        let body = root.margin(50, 0, 0, 0);
        for (panel, area) in report
            .chart
            .iter()
            .zip(body.split_evenly((panels as usize, 1)))
        {
            draw_panel(&area, panel, start_hour).map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    p: &Panel,
    start_hour: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let capacity = bucketed(&p.capacity, start_hour);
    let demand = bucketed(&p.demand, start_hour);
    let offered: Vec<_> = p
        .offered
        .iter()
        .map(|(name, v)| (*name, bucketed(v, start_hour)))
        .collect();
    let end_hour = start_hour + p.capacity.len() as f64 / 60.0;
    let top = offered
        .iter()
        .flat_map(|(_, v)| v.iter().map(|p| p.1))
        .chain(capacity.iter().map(|p| p.1))
        .fold(1.0_f64, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(title(p), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(start_hour..end_hour, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("time of day (hours, PST)")
        .y_desc("requests per second")
        .x_labels(((end_hour - start_hour) as usize + 1).min(25))
        .x_label_formatter(&|h| format!("{:02}:00", h.round() as i64))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    chart
        .draw_series(LineSeries::new(capacity, BLACK.stroke_width(3)))?
        .label("capacity share")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(3)));
    chart
        .draw_series(DashedLineSeries::new(
            demand,
            6,
            4,
            BLACK.mix(0.5).stroke_width(2),
        ))?
        .label("organic demand")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.5)));
    for (i, (name, points)) in offered.into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        // The full failsoft stack is the line to follow: draw it bolder.
        let width = if name == "failsoft" { 4 } else { 2 };
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(width)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 14))
        .draw()
}
