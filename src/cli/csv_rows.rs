//! A user's samples as a table: a CSV (or whitespace- or semicolon-separated) file of D ≥ 1
//! numeric columns, with an optional header line of column names. Blank lines and lines that
//! start with `#` are skipped. A line with a comma or a semicolon is read by the `csv` crate
//! (RFC 4180 quoting: `"mass 1","spin, aligned"` are two fields; spaces around fields are
//! trimmed), any other line is split on whitespace. Every problem is named with its line and
//! column: an empty file, ragged rows, a value that is not a number, NaN or infinity.

use std::path::Path;

/// Rows of `names.len()` finite values each, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub names: Vec<String>,
    pub rows: Vec<f32>,
}

impl Table {
    pub fn dim(&self) -> usize {
        self.names.len()
    }

    pub fn len(&self) -> usize {
        self.rows.len() / self.dim().max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Reads `path` (see the module doc).
pub fn read_table(path: &Path) -> Result<Table, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    parse_table(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The fields of one line: by the `csv` crate where it has a comma or a semicolon (its
/// delimiter), else split on whitespace.
fn split_fields(line: &str) -> Result<Vec<String>, String> {
    let delimiter = if line.contains(',') {
        b','
    } else if line.contains(';') {
        b';'
    } else {
        return Ok(line.split_whitespace().map(String::from).collect());
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .from_reader(line.as_bytes());
    let mut record = csv::StringRecord::new();
    match reader.read_record(&mut record) {
        // A quoted field after a space (`1, "2"`) is not quoted to RFC 4180; spreadsheets
        // write it, so its quotes are taken off here.
        Ok(true) => Ok(record.iter().map(unquote).collect()),
        Ok(false) => Ok(Vec::new()),
        Err(e) => Err(format!("not a CSV line ({e})")),
    }
}

/// `"text"` → `text` (with `""` inside → `"`); anything else as it is.
fn unquote(field: &str) -> String {
    match field.strip_prefix('"').and_then(|f| f.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => field.to_string(),
    }
}

/// Parses a table from text (see the module doc).
pub fn parse_table(text: &str) -> Result<Table, String> {
    let mut names: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    let mut first_row_line = 0;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let fields = split_fields(t).map_err(|e| format!("line {}: {e}", i + 1))?;
        let is_first = names.is_none();
        if is_first && fields.iter().any(|f| f.parse::<f64>().is_err()) {
            // A header: the first non-blank line when any of its fields is not a number.
            names = Some(fields.iter().map(|f| f.to_string()).collect());
            continue;
        }
        let dim = names
            .get_or_insert_with(|| (0..fields.len()).map(|j| format!("x{j}")).collect())
            .len();
        if rows.is_empty() {
            first_row_line = i + 1;
        }
        if fields.len() != dim {
            return Err(format!(
                "line {}: {} values, but {} has {dim} (every row needs the same number of columns)",
                i + 1,
                fields.len(),
                if rows.is_empty() {
                    "the header".to_string()
                } else {
                    format!("line {first_row_line}")
                },
            ));
        }
        for (j, f) in fields.iter().enumerate() {
            let v: f64 = f
                .parse()
                .map_err(|_| format!("line {}, column {}: '{f}' is not a number", i + 1, j + 1))?;
            if !v.is_finite() || (v as f32).is_infinite() {
                return Err(format!(
                    "line {}, column {}: {f} is not a finite number (remove or impute it)",
                    i + 1,
                    j + 1
                ));
            }
            rows.push(v as f32);
        }
    }
    let names = names.unwrap_or_default();
    if rows.is_empty() {
        return Err("no data rows (an empty file, or a header only)".into());
    }
    Ok(Table { names, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_separators_and_comments_are_read() {
        let t = parse_table("# my data\na,b\n1,2\n\n3;4\n5 6\n").unwrap();
        assert_eq!(t.names, vec!["a", "b"]);
        assert_eq!(t.rows, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        assert_eq!((t.dim(), t.len()), (2, 3));
        let t = parse_table("0.5\n-1e3\n").unwrap();
        assert_eq!(t.names, vec!["x0"]);
        assert_eq!(t.rows, vec![0.5, -1000.0]);
    }

    #[test]
    fn every_problem_is_named_with_its_line() {
        let e = |s: &str| parse_table(s).unwrap_err();
        assert!(e("").contains("no data rows"));
        assert!(e("a,b\n").contains("no data rows"));
        assert!(
            e("1,2\n3\n").contains("line 2: 1 values, but line 1 has 2"),
            "{}",
            e("1,2\n3\n")
        );
        assert!(e("a,b\n1,2,3\n").contains("the header has 2"));
        assert!(e("1,2\n3,NaN\n").contains("line 2, column 2: NaN is not a finite number"));
        assert!(e("1,2\n3,inf\n").contains("not a finite"));
        assert!(e("1,2\n3,1e39\n").contains("not a finite"));
        assert!(e("1,2\n3,x\n").contains("line 2, column 2: 'x' is not a number"));
    }

    #[test]
    fn quoted_headers_and_fields_are_one_column_each() {
        let t = parse_table("\"mass 1\",\"spin, aligned\"\n\"1.5\", 2\n3 , \"4e-1\"\n").unwrap();
        assert_eq!(t.names, vec!["mass 1", "spin, aligned"]);
        assert_eq!(t.rows, vec![1.5, 2.0, 3.0, 0.4]);
        let t = parse_table("\"a\";\"b;c\"\n1;2\n").unwrap();
        assert_eq!(t.names, vec!["a", "b;c"]);
        let e = parse_table("\"a\",\"b\"\n1,2,3\n").unwrap_err();
        assert!(e.contains("line 2: 3 values, but the header has 2"), "{e}");
    }
}
