//! The overview's chart: deliveries and drops per hour over the last 24 hours, as SVG drawn on
//! the server (no script, no chart library). Only numbers go into it, never stored text.

use rask_store::activity::HourCount;

/// Outcomes counted as delivered.
pub const DELIVERED: &[&str] = &["delivered", "sent"];
/// Outcomes counted as dropped: rask gave up on the event.
pub const DROPPED: &[&str] = &["dropped", "refused", "revoked", "alert", "failed"];

const WIDTH: u32 = 720;
const HEIGHT: u32 = 160;
const BAR_AREA: u32 = 130;

/// Delivered and dropped per hour for the 24 hours ending with `now_hour` (Unix ms / 3.6e6).
pub fn per_hour(counts: &[HourCount], now_hour: i64) -> Vec<(i64, i64)> {
    (0..24)
        .map(|i| {
            let hour = now_hour - 23 + i;
            let sum = |outcomes: &[&str]| -> i64 {
                counts
                    .iter()
                    .filter(|c| c.hour == hour && outcomes.contains(&c.outcome.as_str()))
                    .map(|c| c.n)
                    .sum()
            };
            (sum(DELIVERED), sum(DROPPED))
        })
        .collect()
}

/// The chart for [`per_hour`]'s bars, oldest hour first.
pub fn svg(bars: &[(i64, i64)]) -> String {
    let most = bars
        .iter()
        .map(|(a, b)| a.max(b))
        .copied()
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = WIDTH / bars.len().max(1) as u32;
    let bar = (slot.saturating_sub(4) / 2).max(1);
    let (delivered, dropped): (i64, i64) = bars.iter().fold((0, 0), |(a, b), (x, y)| (a + x, b + y));
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"100%\" style=\"max-width:48rem\" role=\"img\" \
         aria-label=\"Deliveries and drops per hour, last 24 hours: {delivered} delivered, {dropped} dropped\">\
         <title>{delivered} delivered, {dropped} dropped in the last 24 hours</title>"
    );
    for (i, (ok, bad)) in bars.iter().enumerate() {
        let x = i as u32 * slot + 2;
        for (j, (n, colour)) in [(*ok, "#2e7d32"), (*bad, "#c62828")].into_iter().enumerate() {
            let h = (n as u64 * BAR_AREA as u64 / most as u64) as u32;
            if n > 0 {
                out.push_str(&format!(
                    "<rect x=\"{}\" y=\"{}\" width=\"{bar}\" height=\"{}\" fill=\"{colour}\"><title>{n}</title></rect>",
                    x + j as u32 * bar,
                    BAR_AREA - h.max(1),
                    h.max(1)
                ));
            }
        }
    }
    out.push_str(&format!(
        "<line x1=\"0\" y1=\"{BAR_AREA}\" x2=\"{WIDTH}\" y2=\"{BAR_AREA}\" stroke=\"#888\"/>\
         <text x=\"0\" y=\"{}\" font-size=\"12\">24 h ago</text>\
         <text x=\"{WIDTH}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">now</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#2e7d32\">delivered</text>\
         <text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#c62828\">dropped</text></svg>",
        HEIGHT - 12,
        HEIGHT - 12,
        WIDTH / 2 - 40,
        HEIGHT - 12,
        WIDTH / 2 + 40,
        HEIGHT - 12
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(hour: i64, outcome: &str, n: i64) -> HourCount {
        HourCount {
            hour,
            outcome: outcome.into(),
            n,
        }
    }

    #[test]
    fn hours_are_summed_by_what_became_of_the_events() {
        let counts = [
            count(100, "delivered", 3),
            count(100, "sent", 1),
            count(100, "retry", 9),
            count(100, "dropped", 2),
            count(90, "delivered", 5),
            count(70, "delivered", 8),
        ];
        let bars = per_hour(&counts, 100);
        assert_eq!(bars.len(), 24);
        assert_eq!(bars[23], (4, 2), "retries are neither");
        assert_eq!(bars[13], (5, 0));
        assert_eq!(
            bars.iter().map(|b| b.0).sum::<i64>(),
            9,
            "hour 70 is over a day ago"
        );
    }

    #[test]
    fn the_tallest_bar_fills_the_chart_and_the_totals_are_said() {
        let mut bars = vec![(0, 0); 24];
        bars[23] = (10, 5);
        let svg = svg(&bars);
        assert!(svg.contains("height=\"130\" fill=\"#2e7d32\""), "{svg}");
        assert!(svg.contains("height=\"65\" fill=\"#c62828\""), "{svg}");
        assert!(svg.contains("10 delivered, 5 dropped"));
        assert_eq!(svg.matches("<rect").count(), 2, "empty hours draw nothing");
    }
}
