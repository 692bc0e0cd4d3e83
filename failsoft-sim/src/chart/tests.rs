use super::*;
use crate::{Fleet, Strategy};

/// A day in which every strategy's load ends at the top right of the plot,
/// where a legend inside the plot would sit; three strategies coincide.
fn report() -> Report {
    let minutes = 17 * 60;
    let ramp = |peak: f64| -> Vec<f64> {
        (0..minutes)
            .map(|m| 60.0 * peak * m as f64 / minutes as f64)
            .collect()
    };
    let offered = Strategy::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let peak = if i < 3 { 40.0 } else { 30.0 + i as f64 };
            (s.name(), ramp(peak))
        })
        .collect();
    let panel = Panel {
        fleet: Fleet::Vacuums,
        capacity: ramp(38.0),
        demand: ramp(20.0),
        offered,
    };
    Report {
        seed: 7,
        scale: 1.0,
        devices: 10,
        rows: Vec::new(),
        chart: vec![
            panel.clone(),
            Panel {
                fleet: Fleet::Tickets,
                ..panel
            },
        ],
        windows: Vec::new(),
    }
}

fn attr(element: &str, name: &str) -> Option<f64> {
    let at = element.find(&format!(" {name}=\""))? + name.len() + 3;
    element[at..].split('"').next()?.parse().ok()
}

/// The vertices of every line-like element of `svg` (polylines, polygons,
/// lines, circles); rectangles (the background, frames) are left out.
fn shapes(svg: &str) -> Vec<Vec<(f64, f64)>> {
    svg.split('<')
        .filter_map(|e| {
            if e.starts_with("polyline") || e.starts_with("polygon") {
                let at = e.find(" points=\"")? + 9;
                let pts = e[at..].split('"').next()?;
                Some(
                    pts.split_whitespace()
                        .filter_map(|p| {
                            let (x, y) = p.split_once(',')?;
                            Some((x.parse().ok()?, y.parse().ok()?))
                        })
                        .collect(),
                )
            } else if e.starts_with("line ") {
                Some(vec![
                    (attr(e, "x1")?, attr(e, "y1")?),
                    (attr(e, "x2")?, attr(e, "y2")?),
                ])
            } else if e.starts_with("circle") {
                Some(vec![(attr(e, "cx")?, attr(e, "cy")?)])
            } else {
                None
            }
        })
        .collect()
}

fn inside(p: (f64, f64), b: [i32; 4]) -> bool {
    let [l, t, r, btm] = b.map(f64::from);
    (l..=r).contains(&p.0) && (t..=btm).contains(&p.1)
}

/// Whether the segment from `a` to `b` touches `rect`, sampled at least
/// every half pixel.
fn crosses(a: (f64, f64), b: (f64, f64), rect: [i32; 4]) -> bool {
    let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()) * 2.0)
        .ceil()
        .max(1.0) as usize;
    (0..=steps).any(|k| {
        let t = k as f64 / steps as f64;
        inside((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)), rect)
    })
}

#[test]
fn the_legend_sits_outside_the_plot() {
    let (_, boxes) = render(&report(), 7.0).unwrap();
    assert_eq!(boxes.len(), 2);
    for b in &boxes {
        let [pl, pt, pr, pb] = b.plot;
        let [ll, lt, lr, lb] = b.legend;
        assert!(pl < pr && pt < pb && ll < lr && lt < lb, "{b:?}");
        let overlap = ll <= pr && pl <= lr && lt <= pb && pt <= lb;
        assert!(!overlap, "legend {:?} overlaps plot {:?}", b.legend, b.plot);
    }
}

#[test]
fn no_plotted_line_touches_a_legend() {
    let (svg, boxes) = render(&report(), 7.0).unwrap();
    let legends: Vec<[i32; 4]> = boxes.iter().map(|b| b.legend).collect();
    let mut samples = 0;
    let mut plotted = 0;
    for shape in shapes(&svg) {
        if legends.iter().any(|l| shape.iter().all(|&p| inside(p, *l))) {
            samples += 1; // the legend's own sample lines and markers
            continue;
        }
        plotted += 1;
        for l in &legends {
            let hit = match shape.as_slice() {
                [p] => inside(*p, *l),
                pts => pts.windows(2).any(|w| crosses(w[0], w[1], *l)),
            };
            assert!(!hit, "a line touches the legend {l:?}: {shape:?}");
        }
    }
    // Each legend shows capacity, demand and 8 strategies, each strategy
    // with a sample and a marker.
    assert!(samples >= 2 * (2 + 2 * Strategy::ALL.len()), "{samples}");
    assert!(plotted > 100, "{plotted}");
}

#[test]
fn strategies_differ_in_more_than_colour() {
    let looks: Vec<(&str, Look)> = Strategy::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name(), look_of(s.name(), i)))
        .collect();
    for (i, (a, la)) in looks.iter().enumerate() {
        for (b, lb) in &looks[i + 1..] {
            assert_ne!(la.color, lb.color, "{a} and {b} share a colour");
            // In grey, or for a colour-blind reader, width, dash and marker
            // still tell them apart.
            let shape = |l: &Look| (l.width, l.dash, l.marker);
            if shape(la) == shape(lb) {
                panic!("{a} and {b} differ only in colour");
            }
        }
    }
}

#[test]
fn lines_that_coincide_are_all_visible() {
    // naive, backoff and jitter send the same load here: each shows its
    // own marker at its own times.
    let (svg, _) = render(&report(), 7.0).unwrap();
    let naive = look_of("naive", 0).color;
    let jitter = look_of("jitter", 2).color;
    let hex = |c: RGBColor| format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2);
    for c in [naive, jitter] {
        assert!(svg.contains(&hex(c)), "{} not drawn", hex(c));
    }
    // The thinnest of them is drawn after (on top of) the widest.
    let first = |c: RGBColor| svg.find(&format!("stroke=\"{}\"", hex(c))).unwrap();
    assert!(first(jitter) > first(naive));
    // Deterministic: the same report gives the same document.
    assert_eq!(svg, render(&report(), 7.0).unwrap().0);
}
