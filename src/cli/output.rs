//! Output helpers shared by the listing verbs: docker's aligned tables and its
//! human durations ("5 seconds ago", "Up 3 minutes").

use chrono::{DateTime, Utc};

/// Columns separated by at least three spaces, like docker's tabwriter.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths[i] + 3 - cell.chars().count();
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// docker's table writer exactly (Go tabwriter: minimum width 10, padding
/// 3): every cell but the last of a line is padded to its column's width,
/// the last is printed as is.
pub fn docker_table(header: &[&str], rows: &[Vec<String>]) -> String {
    const MIN_WIDTH: usize = 10;
    const PADDING: usize = 3;
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let lines: Vec<&Vec<String>> = std::iter::once(&header).chain(rows).collect();
    let columns = lines.iter().map(|l| l.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            let widest = lines
                .iter()
                .filter(|l| i + 1 < l.len())
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0);
            (widest + PADDING).max(MIN_WIDTH)
        })
        .collect();
    let mut out = String::new();
    for line in lines {
        for (i, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < line.len() {
                out.push_str(&" ".repeat(widths[i] - cell.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// go-units' `HumanSizeWithPrecision`: decimal units and `precision`
/// significant digits, as Go's `%.*g` prints them ("4.26MB", "512B", "1e+03kB").
pub fn human_size(bytes: u64, precision: usize) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit + 1 < UNITS.len() {
        size /= 1000.0;
        unit += 1;
    }
    format!("{}{}", go_general(size, precision.max(1)), UNITS[unit])
}

/// Go's `%.{precision}g` for a non-negative number.
fn go_general(value: f64, precision: usize) -> String {
    if value == 0.0 {
        return "0".into();
    }
    let scientific = format!("{:.*e}", precision - 1, value);
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if exponent < -4 || exponent >= precision as i32 {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim_fraction(mantissa), exponent.abs());
    }
    let decimals = (precision as i32 - 1 - exponent).max(0) as usize;
    trim_fraction(&format!("{value:.decimals$}")).to_string()
}

fn trim_fraction(number: &str) -> &str {
    if number.contains('.') {
        number.trim_end_matches('0').trim_end_matches('.')
    } else {
        number
    }
}

/// JSON as Go's encoder writes it: `<`, `>` and `&` escaped. They can only
/// occur inside strings, so a textual replacement is exact.
pub fn go_json(text: &str) -> String {
    text.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// go-units' HumanDuration, which docker prints.
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let minutes = secs / 60;
    let hours = secs / 3600;
    match secs {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{secs} seconds"),
        60..=119 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours < 2 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Seconds from `then` (RFC 3339) until now.
pub fn seconds_since(then: &str) -> i64 {
    parse_time(then).map_or(0, |t| (Utc::now() - t).num_seconds())
}

/// "5 seconds ago".
pub fn ago(then: &str) -> String {
    format!("{} ago", human_duration(seconds_since(then)))
}

/// A `--format` Go template, one line per row. With a `table` prefix a header
/// line comes first, each field in it replaced by its column title (docker's
/// from `titles`, else the field upper-cased), and the tab-separated cells
/// line up as in docker's tables.
pub fn templated_rows(
    rows: &[serde_json::Value],
    format: &str,
    titles: &[(&str, &str)],
) -> Result<String, String> {
    let (table, template) = match format.strip_prefix("table") {
        Some(rest) => (true, rest.trim()),
        None => (false, format),
    };
    let template = template.replace("\\t", "\t");
    let mut lines = Vec::new();
    for row in rows {
        lines.push(super::inspect::render_template(&template, row)?);
    }
    if !table {
        return Ok(lines.iter().map(|l| format!("{l}\n")).collect());
    }
    let header: Vec<String> = template
        .split('\t')
        .map(|cell| header_cell(cell, titles))
        .collect();
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    let cells: Vec<Vec<String>> = lines
        .iter()
        .map(|l| l.split('\t').map(String::from).collect())
        .collect();
    Ok(docker_table(&header, &cells))
}

/// A header cell: the template's text with each `{{.Field}}` as its title.
fn header_cell(cell: &str, titles: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut rest = cell;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else {
            break;
        };
        let action = after[..close].trim();
        let field = action
            .trim_start_matches("json")
            .trim()
            .trim_start_matches('.');
        match titles.iter().find(|(name, _)| *name == field) {
            Some((_, title)) => out.push_str(title),
            None => out.push_str(&field.to_ascii_uppercase()),
        }
        rest = &after[close + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(42), "42 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(300), "5 minutes");
        assert_eq!(human_duration(3700), "About an hour");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(3 * 86400), "3 days");
    }

    #[test]
    fn docker_tables_have_a_minimum_width_and_a_ragged_last_column() {
        let t = docker_table(
            &["REPOSITORY", "TAG", "SIZE"],
            &[vec!["bb".into(), "latest".into(), "4.26MB".into()]],
        );
        assert_eq!(
            t,
            "REPOSITORY   TAG       SIZE\nbb           latest    4.26MB\n"
        );
        let t = docker_table(&["A", "B"], &[vec!["x".into(), String::new()]]);
        assert_eq!(t, "A         B\nx         \n");
    }

    #[test]
    fn sizes_read_like_go_units() {
        assert_eq!(human_size(0, 3), "0B");
        assert_eq!(human_size(512, 3), "512B");
        assert_eq!(human_size(1000, 3), "1kB");
        assert_eq!(human_size(4_261_550, 3), "4.26MB");
        assert_eq!(human_size(12_345, 3), "12.3kB");
        assert_eq!(human_size(123_456, 3), "123kB");
        assert_eq!(human_size(999_500, 3), "1e+03kB");
        assert_eq!(human_size(16_430_000, 4), "16.43MB");
        assert_eq!(human_size(2_000_000_000, 4), "2GB");
    }

    #[test]
    fn go_json_escapes_html_characters() {
        assert_eq!(
            go_json(r#"{"a":"<none> & x"}"#),
            r#"{"a":"\u003cnone\u003e \u0026 x"}"#
        );
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "LONGER"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "A     LONGER\nxyz   1\n");
    }

    #[test]
    fn templates_render_rows_and_table_headers() {
        let rows = vec![
            serde_json::json!({"ID": "abc", "Names": "web", "Status": "Up 1 second"}),
            serde_json::json!({"ID": "def", "Names": "db", "Status": "Exited (0)"}),
        ];
        let titles = [("ID", "CONTAINER ID")];
        assert_eq!(
            templated_rows(&rows, "{{.Names}}: {{.Status}}", &titles),
            Ok("web: Up 1 second\ndb: Exited (0)\n".to_string())
        );
        assert_eq!(
            templated_rows(&rows, "table {{.ID}}\\t{{.Names}}", &titles),
            Ok("CONTAINER ID   NAMES\nabc            web\ndef            db\n".to_string())
        );
        assert_eq!(
            templated_rows(&[], "table {{.Names}}:{{.Status}}", &titles),
            Ok("NAMES:STATUS\n".to_string())
        );
        assert!(templated_rows(&rows, "{{.Nope}}", &titles).is_err());
    }
}
