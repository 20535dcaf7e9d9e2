//! A small SVG line plot of invocation cost against quote lines, with the straight-line fit's
//! points marked, so that linear growth can be seen at a glance.

/// The plot of `(lines, p50 µs)` points.
pub fn cost_growth(points: &[(usize, f64)]) -> String {
    let (width, height, margin) = (640.0, 400.0, 60.0);
    let max_x = points.iter().map(|p| p.0).max().unwrap_or(1).max(1) as f64;
    let max_y = points.iter().map(|p| p.1).fold(0.0_f64, f64::max).max(1.0) * 1.1;
    let x = |v: f64| margin + v / max_x * (width - 2.0 * margin);
    let y = |v: f64| height - margin - v / max_y * (height - 2.0 * margin);
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, (l, us))| format!("{}{:.1},{:.1}", if i == 0 { "M" } else { "L" }, x(*l as f64), y(*us)))
        .collect();
    let dots: String = points
        .iter()
        .map(|(l, us)| {
            format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"#1f6feb\"><title>{l} lines: {us:.1} µs</title></circle>",
                x(*l as f64),
                y(*us)
            )
        })
        .collect();
    let ticks: String = (0..=5)
        .map(|i| {
            let v = max_y * f64::from(i) / 5.0;
            format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{v:.0}</text>",
                margin - 6.0,
                y(v) + 4.0
            )
        })
        .collect();
    let xticks: String = points
        .iter()
        .map(|(l, _)| {
            format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{l}</text>",
                x(*l as f64),
                height - margin + 16.0
            )
        })
        .collect();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\">\
<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\
<text x=\"{:.1}\" y=\"24\" font-size=\"15\" text-anchor=\"middle\">Isolated invocation (volume-discount), p50 µs by quote lines</text>\
<line x1=\"{margin}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"black\"/>\
<line x1=\"{margin}\" y1=\"{margin}\" x2=\"{margin}\" y2=\"{:.1}\" stroke=\"black\"/>\
{ticks}{xticks}<path d=\"{}\" fill=\"none\" stroke=\"#1f6feb\" stroke-width=\"2\"/>{dots}</svg>\n",
        width / 2.0,
        height - margin,
        width - margin,
        height - margin,
        height - margin,
        path.join(" "),
    )
}
