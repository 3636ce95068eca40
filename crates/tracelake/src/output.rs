//! Everything the CLI prints to stdout goes through here: result tables for humans, and CSV,
//! JSON and Parquet for machines (`--format`), to stdout or `--output FILE`.
#![allow(clippy::print_stdout)]

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use arrow::array::{Array, RecordBatch};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use clap::ValueEnum;
use comfy_table::{ContentArrangement, Table, presets};

/// Output formats of query-like commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An aligned table for reading.
    Table,
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
    /// Parquet (needs --output).
    Parquet,
}

/// Longest cell shown in table output; the rest is elided (other formats are complete).
const MAX_CELL_CHARS: usize = 80;

/// Prints a line to stdout.
pub fn line(text: impl AsRef<str>) {
    println!("{}", text.as_ref());
}

/// Writes batches in `format` to `output` (a file) or stdout.
pub fn write_batches(batches: &[RecordBatch], format: Format, output: Option<&Path>) -> Result<()> {
    match (format, output) {
        (Format::Parquet, None) => bail!("--format parquet needs --output FILE"),
        (Format::Parquet, Some(path)) => write_parquet(batches, path),
        (_, Some(path)) => {
            let mut file =
                File::create(path).with_context(|| format!("creating {}", path.display()))?;
            write_text(batches, format, &mut file)?;
            file.flush()
                .with_context(|| format!("writing {}", path.display()))
        }
        (_, None) => {
            let stdout = io::stdout();
            let mut lock = stdout.lock();
            write_text(batches, format, &mut lock)?;
            lock.flush().context("writing to stdout")
        }
    }
}

fn write_text(batches: &[RecordBatch], format: Format, out: &mut dyn Write) -> Result<()> {
    match format {
        Format::Table => {
            let table = render_table(batches)?;
            writeln!(out, "{table}").context("writing output")?;
        }
        Format::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            for b in batches {
                w.write(&stringify_lists(b)?).context("writing CSV")?;
            }
        }
        Format::Json => {
            let mut w = arrow::json::ArrayWriter::new(out);
            let refs: Vec<&RecordBatch> = batches.iter().collect();
            w.write_batches(&refs).context("writing JSON")?;
            w.finish().context("writing JSON")?;
            writeln!(w.into_inner()).context("writing JSON")?;
        }
        Format::Parquet => bail!("parquet output goes to a file"),
    }
    Ok(())
}

/// CSV has no lists: lists become `a;b;c` text.
fn stringify_lists(batch: &RecordBatch) -> Result<RecordBatch> {
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    if !batch
        .schema()
        .fields()
        .iter()
        .any(|f| matches!(f.data_type(), DataType::List(_) | DataType::LargeList(_)))
    {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default().with_null("");
    let mut fields = Vec::new();
    let mut columns: Vec<Arc<dyn Array>> = Vec::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if let DataType::List(_) | DataType::LargeList(_) = field.data_type() {
            let f = ArrayFormatter::try_new(column.as_ref(), &options)?;
            let values: Vec<Option<String>> = (0..column.len())
                .map(|i| {
                    column.is_valid(i).then(|| {
                        f.value(i)
                            .to_string()
                            .trim_matches(|c| c == '[' || c == ']')
                            .replace(", ", ";")
                    })
                })
                .collect();
            fields.push(Field::new(field.name(), DataType::Utf8, true));
            columns.push(Arc::new(arrow::array::StringArray::from(values)));
        } else {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Renders batches as an aligned table.
pub fn render_table(batches: &[RecordBatch]) -> Result<String> {
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    let Some(first) = batches.first() else {
        return Ok("(no rows)".to_string());
    };
    table.set_header(first.schema().fields().iter().map(|f| f.name().clone()));
    let options = FormatOptions::default()
        .with_null("")
        .with_timestamp_tz_format(Some("%Y-%m-%d %H:%M:%S"))
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S"));
    let mut rows = 0;
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        let floats: Vec<Option<&arrow::array::Float64Array>> = batch
            .columns()
            .iter()
            .map(|c| c.as_any().downcast_ref::<arrow::array::Float64Array>())
            .collect();
        for row in 0..batch.num_rows() {
            rows += 1;
            table.add_row(
                formatters
                    .iter()
                    .zip(&floats)
                    .map(|(f, float)| match float {
                        Some(values) if values.is_valid(row) => round(values.value(row)),
                        _ => elide(&f.value(row).to_string()),
                    }),
            );
        }
    }
    if rows == 0 {
        return Ok("(no rows)".to_string());
    }
    Ok(table.to_string())
}

/// A float for reading: at most six decimals, no trailing zeros (machine formats keep all).
fn round(x: f64) -> String {
    let text = format!("{x:.6}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_string()
    } else {
        text.to_string()
    }
}

/// One line, at most [`MAX_CELL_CHARS`] characters.
pub fn elide(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| {
            if c == '\n' || c == '\r' || c == '\t' {
                ' '
            } else {
                c
            }
        })
        .collect();
    match one_line.char_indices().nth(MAX_CELL_CHARS) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

fn write_parquet(batches: &[RecordBatch], path: &Path) -> Result<()> {
    let Some(first) = batches.first() else {
        bail!("the query returned no schema to write");
    };
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::ZSTD(Default::default()))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, first.schema(), Some(props))?;
    for b in batches {
        w.write(b)?;
    }
    w.close()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch() -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("model", DataType::Utf8, true),
                Field::new("calls", DataType::Int64, false),
            ])),
            vec![
                Arc::new(StringArray::from(vec![Some("a"), None])),
                Arc::new(Int64Array::from(vec![3, 4])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn formats_tables_csv_and_json() {
        let t = render_table(&[batch()]).unwrap();
        assert!(t.contains("model") && t.contains('3'), "{t}");
        let mut csv = Vec::new();
        write_text(&[batch()], Format::Csv, &mut csv).unwrap();
        assert_eq!(String::from_utf8(csv).unwrap(), "model,calls\na,3\n,4\n");
        let mut json = Vec::new();
        write_text(&[batch()], Format::Json, &mut json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v[0]["calls"], 3);
        assert_eq!(v.as_array().unwrap().len(), 2);
        let mut empty = Vec::new();
        write_text(&[batch().slice(0, 0)], Format::Json, &mut empty).unwrap();
        assert_eq!(String::from_utf8(empty).unwrap().trim(), "[]");
    }

    #[test]
    fn floats_are_rounded_for_reading() {
        assert_eq!(round(0.041444999999999996), "0.041445");
        assert_eq!(round(2.0), "2");
        assert_eq!(round(0.0), "0");
    }

    #[test]
    fn elides_long_cells() {
        let long = "x".repeat(200);
        assert_eq!(elide(&long).chars().count(), MAX_CELL_CHARS + 1);
        assert_eq!(elide("a\nb"), "a b");
    }
}
