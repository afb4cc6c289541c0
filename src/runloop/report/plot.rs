//! Line charts drawn in memory with `plotters` and encoded as PNG.
//!
//! Text is typeset with `ab_glyph` (see [`super::glyphs`]) in Source Sans 3 (SIL OFL 1.1),
//! embedded from `assets/fonts/`, so a chart looks the same on every machine and needs no system
//! font.

use std::sync::OnceLock;

use ab_glyph::FontRef;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;

use super::glyphs::GlyphBackend;

/// Chart size in pixels.
pub const WIDTH: u32 = 960;
/// Chart size in pixels.
pub const HEIGHT: u32 = 540;

const FONT_FAMILY: &str = "sans-serif";
static FONT: &[u8] = include_bytes!("../../../assets/fonts/SourceSans3-Regular.otf");
const LEGEND_WIDTH: u32 = 230;

/// Distinct line colours (the Tableau 10 palette); the overall line is drawn black.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Colour number `i` of the palette (cycling).
pub fn palette(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A chart could not be drawn or encoded.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// The embedded font could not be parsed.
    #[error("embedded font assets/fonts/SourceSans3-Regular.otf could not be loaded")]
    Font,
    /// plotters failed while drawing.
    #[error("drawing chart `{title}`: {msg}")]
    Draw { title: String, msg: String },
    /// The PNG encoder failed.
    #[error("encoding chart `{title}` as PNG: {msg}")]
    Encode { title: String, msg: String },
}

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Line {
    /// Legend text.
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: RGBColor,
    /// Stroke width in pixels.
    pub width: u32,
    /// Whether each point gets a dot (for short per-iteration lines).
    pub markers: bool,
}

/// What the x axis counts.
#[derive(Debug, Clone)]
pub enum XAxis {
    /// Iterations: one labelled tick per `(x, label)`.
    Iterations(Vec<(f64, String)>),
    /// Training steps counted across iterations, with an `iter N` tag (and, after the first, a
    /// dashed rule) at each `(x, iteration)` where an iteration begins.
    Steps(Vec<(f64, usize)>),
}

/// A line chart.
#[derive(Debug, Clone)]
pub struct Chart {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub x_axis: XAxis,
    /// Fixed y range; computed from the data when `None`.
    pub y_range: Option<(f64, f64)>,
    pub lines: Vec<Line>,
}

/// The embedded font, parsed once; also registered with plotters as its `sans-serif`.
fn font() -> Result<FontRef<'static>, PlotError> {
    static PARSED: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    PARSED
        .get_or_init(|| {
            let font = FontRef::try_from_slice(FONT).ok()?;
            plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT).ok()?;
            Some(font)
        })
        .clone()
        .ok_or(PlotError::Font)
}

/// Range of all finite values, padded so that a flat line sits mid-chart.
fn data_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let span = hi - lo;
    if span <= f64::EPSILON * hi.abs().max(1.0) {
        let pad = (hi.abs() * 0.1).max(1e-3);
        return (lo - pad, hi + pad);
    }
    (lo - span * 0.06, hi + span * 0.06)
}

/// About `target` "nice" tick positions (steps of 1, 2 or 5 times a power of ten) in `[lo, hi]`.
pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let span = hi - lo;
    if !(span.is_finite() && span > 0.0) || target == 0 {
        return vec![lo];
    }
    let raw = span / target as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Decimals that tell apart ticks `span / 8` apart.
fn decimals_for(span: f64) -> usize {
    if !(span.is_finite() && span > 0.0) {
        return 2;
    }
    let d = (-(span / 8.0).log10()).ceil();
    d.clamp(0.0, 6.0) as usize
}

fn draw_err(title: &str) -> impl Fn(String) -> PlotError + '_ {
    move |msg| PlotError::Draw {
        title: title.to_string(),
        msg,
    }
}

/// Draws `chart` and returns the PNG file's bytes (`WIDTH` x `HEIGHT`, 8-bit RGB).
pub fn render_png(chart: &Chart) -> Result<Vec<u8>, PlotError> {
    let font = font()?;
    let mut rgb = vec![255u8; (WIDTH as usize) * (HEIGHT as usize) * 3];
    draw(chart, &mut rgb, font).map_err(draw_err(&chart.title))?;
    encode_png(&rgb).map_err(|msg| PlotError::Encode {
        title: chart.title.clone(),
        msg,
    })
}

fn encode_png(rgb: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(|e| e.to_string())?;
    writer.write_image_data(rgb).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

fn draw(chart: &Chart, rgb: &mut [u8], font: FontRef<'static>) -> Result<(), String> {
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let bitmap = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT));
    let root = GlyphBackend::new(bitmap, font).into_drawing_area();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let legend = chart.lines.len() > 1;
    let plot_width = if legend { WIDTH - LEGEND_WIDTH } else { WIDTH };
    let (plot_area, legend_area) = root.split_horizontally(plot_width);

    let (x_lo, x_hi, x_ticks) = x_layout(chart);
    let (y_lo, y_hi) = chart.y_range.unwrap_or_else(|| {
        data_range(
            chart
                .lines
                .iter()
                .flat_map(|l| l.points.iter().map(|p| p.1)),
        )
    });
    let y_ticks = nice_ticks(y_lo, y_hi, 8);
    let y_decimals = decimals_for(y_hi - y_lo);

    let mut ctx = ChartBuilder::on(&plot_area)
        .caption(&chart.title, (FONT_FAMILY, 28))
        .margin(14)
        .x_label_area_size(56)
        .y_label_area_size(78)
        .build_cartesian_2d(
            TickAxis::new(x_lo, x_hi, x_ticks.clone()),
            TickAxis::new(y_lo, y_hi, y_ticks.clone()),
        )
        .map_err(|x| e(&x))?;

    let x_format = |x: &f64| x_tick_label(&chart.x_axis, *x);
    let y_format = |y: &f64| format!("{y:.y_decimals$}");
    ctx.configure_mesh()
        .x_labels(x_ticks.len() + 1)
        .y_labels(y_ticks.len() + 1)
        .x_label_formatter(&x_format)
        .y_label_formatter(&y_format)
        .x_desc(chart.x_desc.as_str())
        .y_desc(chart.y_desc.as_str())
        .label_style((FONT_FAMILY, 17))
        .axis_desc_style((FONT_FAMILY, 19))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(WHITE)
        .draw()
        .map_err(|x| e(&x))?;

    if let XAxis::Steps(starts) = &chart.x_axis {
        let rule = RGBColor(150, 150, 150);
        for &(x, iteration) in starts {
            // A rule between the last step of one iteration and the first of the next.
            let at = if x > 1.0 { x - 0.5 } else { x_lo };
            if x > 1.0 {
                ctx.draw_series(DashedLineSeries::new(
                    vec![(at, y_lo), (at, y_hi)],
                    6,
                    4,
                    rule.stroke_width(1),
                ))
                .map_err(|x| e(&x))?;
            }
            let span = y_hi - y_lo;
            ctx.draw_series(std::iter::once(Text::new(
                format!(" iter {iteration}"),
                (at, y_hi - span * 0.01),
                (FONT_FAMILY, 16).into_font().color(&RGBColor(80, 80, 80)),
            )))
            .map_err(|x| e(&x))?;
        }
    }

    for line in &chart.lines {
        let style = line.color.stroke_width(line.width);
        ctx.draw_series(LineSeries::new(line.points.iter().copied(), style))
            .map_err(|x| e(&x))?;
        if line.markers {
            let dot = line.color.filled();
            ctx.draw_series(line.points.iter().map(|&p| Circle::new(p, 4, dot)))
                .map_err(|x| e(&x))?;
        }
    }

    if legend {
        for (i, line) in chart.lines.iter().enumerate() {
            let y = 70 + 28 * i as i32;
            if y > HEIGHT as i32 - 20 {
                break;
            }
            legend_area
                .draw(&PathElement::new(
                    vec![(8, y), (40, y)],
                    line.color.stroke_width(line.width.max(3)),
                ))
                .map_err(|x| e(&x))?;
            legend_area
                .draw(&Text::new(
                    truncate(&line.label, 24),
                    (48, y - 2),
                    (FONT_FAMILY, 18).into_font(),
                ))
                .map_err(|x| e(&x))?;
        }
    }
    root.present().map_err(|x| e(&x))?;
    Ok(())
}

/// A linear f64 axis whose ticks are given (plotters' own key-point wrapper loses the label
/// formatter of f64 axes).
struct TickAxis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl TickAxis {
    fn new(lo: f64, hi: f64, ticks: Vec<f64>) -> Self {
        TickAxis { lo, hi, ticks }
    }
}

impl Ranged for TickAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.hi - self.lo;
        let frac = if span > 0.0 {
            (value - self.lo) / span
        } else {
            0.5
        };
        let pixels = f64::from(limit.1 - limit.0);
        limit.0 + (frac * pixels).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// The x range and ticks: iterations get one tick each, steps get nice integer ticks.
fn x_layout(chart: &Chart) -> (f64, f64, Vec<f64>) {
    match &chart.x_axis {
        XAxis::Iterations(labels) => {
            let xs: Vec<f64> = labels.iter().map(|l| l.0).collect();
            let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if !lo.is_finite() || !hi.is_finite() {
                return (-0.5, 0.5, vec![0.0]);
            }
            // At most ~16 labelled ticks, so that long runs stay legible.
            let every = xs.len().div_ceil(16).max(1);
            let ticks = xs.iter().copied().step_by(every).collect();
            (lo - 0.3, hi + 0.3, ticks)
        }
        XAxis::Steps(_) => {
            let hi = chart
                .lines
                .iter()
                .flat_map(|l| l.points.iter().map(|p| p.0))
                .fold(1.0f64, f64::max);
            let (lo, hi) = if hi <= 1.0 {
                (0.0, 2.0)
            } else {
                (0.5, hi + 0.5)
            };
            let ticks = nice_ticks(lo, hi, 10)
                .into_iter()
                .filter(|t| t.fract() == 0.0 && *t >= 1.0)
                .collect();
            (lo, hi, ticks)
        }
    }
}

fn x_tick_label(axis: &XAxis, x: f64) -> String {
    match axis {
        XAxis::Iterations(labels) => labels
            .iter()
            .find(|l| (l.0 - x).abs() < 1e-9)
            .map(|l| l.1.clone())
            .unwrap_or_default(),
        XAxis::Steps(_) => format!("{x:.0}"),
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max_chars.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ticks_use_1_2_5_steps() {
        assert_eq!(
            nice_ticks(0.0, 100.0, 5),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
        );
        assert_eq!(
            nice_ticks(0.5, 9.5, 10),
            (1..=9).map(f64::from).collect::<Vec<_>>()
        );
        let t = nice_ticks(0.013, 0.061, 5);
        assert_eq!(t.len(), 5);
        assert!((t[0] - 0.02).abs() < 1e-12 && (t[4] - 0.06).abs() < 1e-12);
    }

    #[test]
    fn flat_data_gets_a_nonempty_range() {
        let (lo, hi) = data_range([0.0, 0.0].into_iter());
        assert!(lo < 0.0 && hi > 0.0);
        let (lo, hi) = data_range([2.0, 4.0].into_iter());
        assert!(lo < 2.0 && hi > 4.0);
    }
}
