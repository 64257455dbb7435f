//! Plain-text output helpers: aligned tables, human sizes ("1.2 GB", as Ollama prints them)
//! and durations ("4 minutes").

use std::fmt::Write as _;
use std::time::Duration;

/// Columns separated by at least three spaces, left-aligned, no trailing spaces.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(headers: &[&str]) -> Table {
        Table { headers: headers.iter().map(|h| (*h).to_string()).collect(), rows: Vec::new() }
    }

    /// Adds a row (missing cells are empty, extra cells are dropped).
    pub fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The table as lines ending in `\n`.
    pub fn render(&self) -> String {
        let n = self.headers.len();
        let cell = |row: &[String], i: usize| row.get(i).cloned().unwrap_or_default();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, w) in widths.iter_mut().enumerate() {
                *w = (*w).max(cell(row, i).chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, w) in widths.iter().enumerate().take(n) {
                let text = cell(row, i);
                let _ = write!(line, "{text:<w$}   ");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Bytes in decimal units as Ollama prints them: `512 B`, `29 MB`, `1.2 GB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 4] = [(1_000_000_000_000, "TB"), (1_000_000_000, "GB"), (1_000_000, "MB"), (1_000, "KB")];
    for (size, unit) in UNITS {
        if n >= size {
            #[allow(clippy::cast_precision_loss)] // display only
            let value = n as f64 / size as f64;
            return if value >= 10.0 || value.fract() == 0.0 {
                format!("{} {unit}", value.floor())
            } else {
                format!("{value:.1} {unit}")
            };
        }
    }
    format!("{n} B")
}

/// A duration in the largest whole unit: `less than a second`, `1 second`, `4 minutes`,
/// `2 hours`, `3 days`.
pub fn duration(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = match s {
        0 => return "less than a second".into(),
        1..=59 => (s, "second"),
        60..=3599 => (s / 60, "minute"),
        3600..=86_399 => (s / 3600, "hour"),
        _ => (s / 86_400, "day"),
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// How long ago: `just now` under a second, else `4 minutes ago`.
pub fn ago(d: Duration) -> String {
    if d.as_secs() == 0 {
        "just now".into()
    } else {
        format!("{} ago", duration(d))
    }
}

/// `[#####---------------]`: `used` of `total` in `width` cells (full when over).
pub fn bar(used: u64, total: u64, width: usize) -> String {
    let filled = if total == 0 {
        0
    } else {
        // Rounded to the nearest cell; the cast is safe for any width a terminal can show.
        #[allow(clippy::cast_possible_truncation)]
        let f = ((u128::from(used) * width as u128 + u128::from(total) / 2) / u128::from(total)) as usize;
        f.min(width)
    };
    format!("[{}{}]", "#".repeat(filled), "-".repeat(width - filled))
}

/// `used` as a whole percentage of `total`.
pub fn percent(used: u64, total: u64) -> u64 {
    if total == 0 {
        return 0;
    }
    // u128 so huge budgets cannot overflow; the result is at most a few thousand.
    u64::try_from(u128::from(used) * 100 / u128::from(total)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_ollama() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1_000), "1 KB");
        assert_eq!(bytes(29_300_000), "29 MB");
        assert_eq!(bytes(1_234_000_000), "1.2 GB");
        assert_eq!(bytes(2_000_000_000), "2 GB");
        assert_eq!(bytes(17_179_869_184), "17 GB");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(Duration::from_millis(300)), "less than a second");
        assert_eq!(duration(Duration::from_secs(1)), "1 second");
        assert_eq!(duration(Duration::from_secs(59)), "59 seconds");
        assert_eq!(duration(Duration::from_secs(299)), "4 minutes");
        assert_eq!(duration(Duration::from_secs(3600)), "1 hour");
        assert_eq!(duration(Duration::from_secs(3 * 86_400 + 5)), "3 days");
        assert_eq!(ago(Duration::from_millis(999)), "just now");
        assert_eq!(ago(Duration::from_secs(120)), "2 minutes ago");
    }

    #[test]
    fn bars_and_tables() {
        assert_eq!(bar(0, 100, 10), "[----------]");
        assert_eq!(bar(50, 100, 10), "[#####-----]");
        assert_eq!(bar(500, 100, 4), "[####]");
        assert_eq!(bar(1, 0, 4), "[----]");
        assert_eq!(percent(1, 3), 33);
        let mut t = Table::new(&["NAME", "SIZE"]);
        t.push(vec!["a/long-name:latest".into(), "1 GB".into()]);
        t.push(vec!["b".into()]);
        assert_eq!(t.render(), "NAME                 SIZE\na/long-name:latest   1 GB\nb\n");
    }
}
