//! The replay's chart: offered load and capacity over the day, one panel
//! per fleet, one line per strategy (SVG).
//!
//! Strategies often send the same load (naive, backoff and jitter all
//! about four times demand; failsoft and failsoft-no-fallback exactly the
//! same), so each has its own colour, dash pattern and marker, wide lines
//! are drawn first and thin ones on top, and markers sit at staggered
//! times: lines that coincide still show each of their strategies. The
//! legend has a column of its own right of the plot, so it covers no line.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use super::report::{Panel, Report};

/// Minutes averaged per plotted point: smooths minute-to-minute noise.
const BUCKET: usize = 5;
/// Width of the plot (axes included).
const PLOT_WIDTH: u32 = 1200;
/// Width of the legend column right of the plot.
const LEGEND_WIDTH: u32 = 290;
const PANEL_HEIGHT: u32 = 380;
const HEADER: u32 = 50;
/// Plotted points between two markers of one strategy (an hour).
const MARK_EVERY: usize = 12;
/// Height of one legend entry, in pixels.
const ENTRY: i32 = 24;
/// Length of a legend entry's sample line.
const SAMPLE: i32 = 48;

/// How a strategy's line looks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Look {
    color: RGBColor,
    width: u32,
    /// Dash and gap length in pixels; solid when `None`.
    dash: Option<(u32, u32)>,
    marker: Marker,
}

/// A shape marking a line at intervals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Marker {
    Circle,
    Triangle,
    Square,
    Cross,
}

/// Pixel boxes of one panel, `(left, top)` to `(right, bottom)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Boxes {
    /// Where the lines are plotted.
    pub(crate) plot: [i32; 4],
    /// The legend's frame.
    pub(crate) legend: [i32; 4],
}

const SOLID: Option<(u32, u32)> = None;
const DASHED: Option<(u32, u32)> = Some((14, 8));
const DOTTED: Option<(u32, u32)> = Some((3, 5));
const SHORT: Option<(u32, u32)> = Some((7, 4));

/// The look of each strategy, in [`Strategy::ALL`](crate::Strategy::ALL)
/// order, worst to best: strategies that tend to coincide differ in width,
/// dash and marker, not only in colour.
const LOOKS: [(&str, Look); 8] = [
    ("naive", look((214, 39, 40), 7, SOLID, Marker::Circle)),
    ("backoff", look((255, 127, 14), 4, DASHED, Marker::Triangle)),
    ("jitter", look((150, 150, 20), 2, DOTTED, Marker::Cross)),
    ("failsoft", look((44, 160, 44), 6, SOLID, Marker::Square)),
    (
        "failsoft-no-budget",
        look((31, 119, 180), 4, SHORT, Marker::Circle),
    ),
    (
        "failsoft-no-throttle-breaker",
        look((148, 103, 189), 3, DASHED, Marker::Square),
    ),
    (
        "failsoft-no-fallback",
        look((140, 86, 75), 2, DOTTED, Marker::Triangle),
    ),
    (
        "failsoft-retry-only",
        look((227, 119, 194), 3, SOLID, Marker::Cross),
    ),
];

const fn look(rgb: (u8, u8, u8), width: u32, dash: Option<(u32, u32)>, marker: Marker) -> Look {
    Look {
        color: RGBColor(rgb.0, rgb.1, rgb.2),
        width,
        dash,
        marker,
    }
}

/// The look of strategy `name`, the `i`-th plotted.
pub(crate) fn look_of(name: &str, i: usize) -> Look {
    LOOKS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or(LOOKS[i % LOOKS.len()].1, |(_, l)| *l)
}

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
    render(report, start_hour).map(|(svg, _)| svg)
}

/// The SVG document and each panel's plot and legend boxes.
pub(crate) fn render(report: &Report, start_hour: f64) -> Result<(String, Vec<Boxes>), String> {
    let mut out = String::new();
    let mut boxes = Vec::new();
    let panels = report.chart.len().max(1) as u32;
    {
        let size = (PLOT_WIDTH + LEGEND_WIDTH, PANEL_HEIGHT * panels + HEADER);
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let header = format!(
            "7 Dec 2021 replay (seed {}, scale {}): load offered by each client strategy, capacity left",
            report.seed, report.scale
        );
        root.draw(&Text::new(header, (20, 14), ("sans-serif", 22).into_font()))
            .map_err(|e| e.to_string())?;
        let body = root.margin(HEADER, 0, 0, 0);
        for (panel, area) in report
            .chart
            .iter()
            .zip(body.split_evenly((panels as usize, 1)))
        {
            let (left, right) = area.split_horizontally(PLOT_WIDTH);
            let plot = draw_panel(&left, panel, start_hour).map_err(|e| e.to_string())?;
            let legend = draw_legend(&right, panel).map_err(|e| e.to_string())?;
            boxes.push(Boxes { plot, legend });
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok((out, boxes))
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
    start_hour: f64,
) -> Result<[i32; 4], DrawingAreaErrorKind<DB::ErrorType>> {
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
    chart.draw_series(LineSeries::new(capacity, BLACK.stroke_width(3)))?;
    chart.draw_series(DashedLineSeries::new(
        demand,
        6,
        4,
        BLACK.mix(0.5).stroke_width(2),
    ))?;
    // Wide lines first, so the thin ones that coincide with them stay
    // visible on top; the sort is stable, so ties keep strategy order.
    let mut order: Vec<usize> = (0..offered.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(look_of(offered[i].0, i).width));
    for i in order {
        let (name, points) = &offered[i];
        let look = look_of(name, i);
        let style = look.color.stroke_width(look.width);
        match look.dash {
            None => {
                chart.draw_series(LineSeries::new(points.iter().copied(), style))?;
            }
            Some((dash, gap)) => {
                chart.draw_series(DashedLineSeries::new(
                    points.iter().copied(),
                    dash,
                    gap,
                    style,
                ))?;
            }
        }
        // Markers at staggered times, so coinciding lines show each one;
        // none on the floor, where every idle line lies.
        let phase = i * MARK_EVERY / offered.len().max(1);
        let marks = points
            .iter()
            .skip(phase)
            .step_by(MARK_EVERY)
            .filter(|p| p.1 > top * 0.01)
            .copied();
        draw_marks(&mut chart, marks.collect(), look)?;
    }
    let (x, y) = chart.plotting_area().get_pixel_range();
    Ok([x.start, y.start, x.end, y.end])
}

type Plot<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws `look`'s marker at each point of `at`.
fn draw_marks<DB: DrawingBackend>(
    chart: &mut Plot<'_, DB>,
    at: Vec<(f64, f64)>,
    look: Look,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let fill = look.color.filled();
    let at = at.into_iter();
    match look.marker {
        Marker::Circle => chart.draw_series(at.map(|p| Circle::new(p, 5, fill)))?,
        Marker::Triangle => chart.draw_series(at.map(|p| TriangleMarker::new(p, 6, fill)))?,
        Marker::Square => chart.draw_series(
            at.map(|p| EmptyElement::at(p) + Rectangle::new([(-4, -4), (4, 4)], fill)),
        )?,
        Marker::Cross => {
            chart.draw_series(at.map(|p| Cross::new(p, 5, look.color.stroke_width(2))))?
        }
    };
    Ok(())
}

/// Draws `look`'s marker at `p` of the legend.
fn draw_mark<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: (i32, i32),
    look: Look,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let fill = look.color.filled();
    match look.marker {
        Marker::Circle => area.draw(&Circle::new(p, 5, fill)),
        Marker::Triangle => area.draw(&TriangleMarker::new(p, 6, fill)),
        Marker::Square => area.draw(&Rectangle::new(
            [(p.0 - 4, p.1 - 4), (p.0 + 4, p.1 + 4)],
            fill,
        )),
        Marker::Cross => area.draw(&Cross::new(p, 5, look.color.stroke_width(2))),
    }
}

/// Draws the legend in its own column; returns its frame.
fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    p: &Panel,
) -> Result<[i32; 4], DrawingAreaErrorKind<DB::ErrorType>> {
    let font = ("sans-serif", 14).into_font();
    let (left, top) = (8, 40);
    let entries = 2 + p.offered.len() as i32;
    let frame = [
        left,
        top,
        area.dim_in_pixel().0 as i32 - 8,
        top + entries * ENTRY + 12,
    ];
    area.draw(&Rectangle::new(
        [(frame[0], frame[1]), (frame[2], frame[3])],
        BLACK.mix(0.3),
    ))?;
    let row = |k: i32| top + 18 + k * ENTRY;
    let (x0, x1) = (left + 10, left + 10 + SAMPLE);
    area.draw(&PathElement::new(
        vec![(x0, row(0)), (x1, row(0))],
        BLACK.stroke_width(3),
    ))?;
    area.draw(&Text::new(
        "capacity share",
        (x1 + 10, row(0) - 7),
        font.clone(),
    ))?;
    for e in DashedLineSeries::new(
        vec![(x0, row(1)), (x1, row(1))],
        6,
        4,
        BLACK.mix(0.5).stroke_width(2),
    ) {
        area.draw(&e)?;
    }
    area.draw(&Text::new(
        "organic demand",
        (x1 + 10, row(1) - 7),
        font.clone(),
    ))?;
    for (i, (name, _)) in p.offered.iter().enumerate() {
        let look = look_of(name, i);
        let y = row(2 + i as i32);
        let style = look.color.stroke_width(look.width);
        match look.dash {
            None => area.draw(&PathElement::new(vec![(x0, y), (x1, y)], style))?,
            Some((dash, gap)) => {
                for e in DashedLineSeries::new(vec![(x0, y), (x1, y)], dash, gap, style) {
                    area.draw(&e)?;
                }
            }
        }
        draw_mark(area, (x0 + SAMPLE / 2, y), look)?;
        area.draw(&Text::new(*name, (x1 + 10, y - 7), font.clone()))?;
    }
    let (bx, by) = area.get_base_pixel();
    Ok([frame[0] + bx, frame[1] + by, frame[2] + bx, frame[3] + by])
}

#[cfg(test)]
mod tests;
