//! What the streaming benchmarks read about other processes and servers: CPU time and resident
//! memory from `/proc`, and one histogram from a Prometheus text exposition.

use anyhow::Context;

use crate::client::{Conn, Target};

/// User + system CPU time of `pid` (all threads) in clock ticks (`getconf CLK_TCK`).
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("/proc/{pid}/stat"))?;
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12th and 13th after the name.
    let tick = |i: usize| -> anyhow::Result<u64> {
        Ok(fields.get(i).context("short stat")?.parse::<u64>()?)
    };
    Ok(tick(11)? + tick(12)?)
}

/// Cumulative buckets of one histogram: `(upper bound in seconds, count)`, by bound.
pub type Buckets = Vec<(f64, u64)>;

/// Fetches `url` (a `/metrics` page) and returns the buckets of `name` summed over every label
/// set whose labels contain `label` (e.g. `kind="sse"`).
pub async fn scrape_histogram(url: &str, name: &str, label: &str) -> anyhow::Result<Buckets> {
    let target = Target::parse(url)?;
    let mut conn = Conn::connect(&target.authority).await?;
    let (status, body) = conn.get(&target.path).await?;
    anyhow::ensure!(status == 200, "{url}: HTTP {status}");
    Ok(histogram(&String::from_utf8_lossy(&body), name, label))
}

/// The buckets of `name` in an exposition text (see [`scrape_histogram`]).
pub fn histogram(text: &str, name: &str, label: &str) -> Buckets {
    let prefix = format!("{name}_bucket{{");
    let mut buckets: Buckets = Vec::new();
    for line in text.lines().filter(|l| l.starts_with(&prefix)) {
        let Some((labels, value)) = line.rsplit_once(' ') else {
            continue;
        };
        if !labels.contains(label) {
            continue;
        }
        let Some(le) = labels
            .split("le=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
        else {
            continue;
        };
        let bound = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap_or(f64::INFINITY)
        };
        let count = value.parse::<f64>().unwrap_or(0.0) as u64;
        match buckets.iter_mut().find(|(b, _)| *b == bound) {
            Some((_, c)) => *c += count,
            None => buckets.push((bound, count)),
        }
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets
}

/// The observations between two scrapes, as JSON: count and the upper bound of the bucket
/// holding p50, p99 and the largest observation (a histogram cannot say more).
pub fn window(before: &Buckets, after: &Buckets) -> serde_json::Value {
    let delta: Buckets = after
        .iter()
        .map(|&(bound, n)| {
            let old = before
                .iter()
                .find(|(b, _)| *b == bound)
                .map_or(0, |(_, c)| *c);
            (bound, n.saturating_sub(old))
        })
        .collect();
    let total = delta.last().map_or(0, |(_, c)| *c);
    let bound_of = |q: f64| -> Option<String> {
        let rank = (q * total as f64).ceil() as u64;
        delta.iter().find(|(_, c)| *c >= rank.max(1)).map(|(b, _)| {
            if b.is_finite() {
                format!("{b}")
            } else {
                "+Inf".into()
            }
        })
    };
    serde_json::json!({
        "observations": total,
        "p50_le_s": bound_of(0.50),
        "p99_le_s": bound_of(0.99),
        "max_le_s": bound_of(1.0),
        "buckets": delta.iter().map(|(b, c)| serde_json::json!([if b.is_finite() { format!("{b}") } else { "+Inf".into() }, c])).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_window() {
        let a = "x_bucket{kind=\"sse\",le=\"0.001\"} 1\nx_bucket{kind=\"sse\",le=\"0.01\"} 2\nx_bucket{kind=\"sse\",le=\"+Inf\"} 2\nx_bucket{kind=\"ws\",le=\"0.001\"} 9\n";
        let b = "x_bucket{kind=\"sse\",le=\"0.001\"} 91\nx_bucket{kind=\"sse\",le=\"0.01\"} 101\nx_bucket{kind=\"sse\",le=\"+Inf\"} 102\n";
        let w = window(
            &histogram(a, "x", "kind=\"sse\""),
            &histogram(b, "x", "kind=\"sse\""),
        );
        assert_eq!(w["observations"], 100);
        assert_eq!(w["p50_le_s"], "0.001");
        assert_eq!(w["p99_le_s"], "0.01");
        assert_eq!(w["max_le_s"], "+Inf");
    }

    #[test]
    fn own_cpu_time_reads() {
        assert!(cpu_ticks(std::process::id()).is_ok());
    }
}
