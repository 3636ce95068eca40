//! An OTLP request body, as any client may send it, through everything the collector does
//! with it: decode (protobuf or JSON, the first byte picks the signal and encoding), the
//! canonical protobuf the WAL stores, masking, the `raw` table's JSON, the mappings of every
//! convention, the merging of keyed views, the Arrow batches of every table, and the lake's
//! writer: day partitions, sorting, Parquet, Iceberg column metrics and the text index.
//!
//! Besides "never panics", four properties are checked: the WAL's protobuf decodes to the
//! same request; its `raw` JSON reads back as the same request (ADR 0010), up to the payload
//! bits of a NaN; every table's Parquet reads back as the rows written; and the text index
//! finds every row by every trigram of its text (a search never misses a row).
#![no_main]

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use arrow::array::{Array, AsArray, RecordBatch, RecordBatchReader};
use futures::executor::block_on;

use libfuzzer_sys::fuzz_target;
use tracelake_ingest::otlp::decode::{Encoding, Request, Signal, decode};
use tracelake_ingest::otlp::logs::{SpanMessages, genai_messages};
use tracelake_ingest::otlp::mask::mask_request;
use tracelake_ingest::otlp::{Mapped, map_request};
use tracelake_ingest::{RedactionConfig, Redactor};
use tracelake_lake::textindex::{INDEXED_COLUMNS, IndexReader, fold, index_location, trigrams};
use tracelake_lake::writer::{DataFileWriter, sort_batch, split_by_day};
use tracelake_lake::{Warehouse, WriteOptions};
use tracelake_model::{
    MetricBatchBuilder, PricingTable, RawBatchBuilder, RawRecord, Span, SpanBatchBuilder, TableKind,
};

fn redactor() -> &'static Redactor {
    static R: OnceLock<Redactor> = OnceLock::new();
    R.get_or_init(|| Redactor::new(&RedactionConfig::default()).expect("the built-in rules"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let signal = Signal::ALL[usize::from(pick % 3)];
    let encoding = if pick & 0x80 == 0 {
        Encoding::Protobuf
    } else {
        Encoding::Json
    };
    let Ok(received) = decode(signal, encoding, body) else {
        return;
    };

    // The WAL stores canonical protobuf; the committer decodes it again.
    let wal = received.to_protobuf();
    let mut req = decode(signal, Encoding::Protobuf, &wal).expect("the WAL's protobuf decodes");
    assert_eq!(req.to_protobuf(), wal, "the WAL's protobuf is stable");

    mask_request(&mut req, redactor());
    let json = req.to_json();
    // `stringValueStrindex` (a profiles-only kind of value) is in the raw JSON, but
    // opentelemetry-proto's JSON reader skips it, so such a request cannot read back whole.
    if !json.contains("\"stringValueStrindex\"") {
        let back = decode(signal, Encoding::Json, json.as_bytes())
            .unwrap_or_else(|e| panic!("the raw JSON reads back: {}\n{json}", e.report()));
        // Compared as JSON: a NaN's payload bits, which protobuf keeps, JSON cannot.
        assert_eq!(back.to_json(), json, "the raw JSON reads back the same");
    }

    let mut messages = SpanMessages::new();
    if let Request::Logs(r) = &req {
        genai_messages(r, &mut messages);
    }

    let mut spans = SpanBatchBuilder::new(0);
    let mut metrics = MetricBatchBuilder::new(0);
    let mut keyed: HashMap<[u8; 16], Span> = HashMap::new();
    for row in map_request(&req, "fuzz#0", PricingTable::embedded()) {
        match row {
            Mapped::Span(span, None) => spans.append(&span),
            Mapped::Span(span, Some(key)) => match keyed.get_mut(&key) {
                Some(first) => first.fill_missing(span),
                None => {
                    keyed.insert(key, span);
                }
            },
            Mapped::Metric(point) => metrics.append(&point),
        }
    }
    for span in keyed.values() {
        spans.append(span);
    }
    write_and_read_back(TableKind::Spans, &spans.finish().expect("a spans batch"));
    write_and_read_back(
        TableKind::Metrics,
        &metrics.finish().expect("a metrics batch"),
    );

    let mut raw = RawBatchBuilder::new(0);
    raw.append(&RawRecord {
        source: "otlp".into(),
        source_ref: "fuzz#0".into(),
        file: None,
        line: None,
        byte_offset: None,
        session_id: None,
        record_type: Some(signal.name().into()),
        event_time: 0,
        record: json,
        parse_error: None,
    });
    write_and_read_back(TableKind::Raw, &raw.finish().expect("a raw batch"));
});

/// A local warehouse in memory-backed storage, emptied before each input.
fn warehouse() -> &'static (Warehouse, PathBuf) {
    static W: OnceLock<(Warehouse, PathBuf)> = OnceLock::new();
    W.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("tracelake-fuzz-{}", std::process::id()));
        let warehouse = Warehouse::local(&dir).expect("a local warehouse");
        (warehouse, dir)
    })
}

/// Writes `batch` as the lake's writer does, reads the Parquet back, and checks the text index
/// of `spans` files against every row's text.
fn write_and_read_back(kind: TableKind, batch: &RecordBatch) {
    if batch.num_rows() == 0 {
        return;
    }
    let (warehouse, dir) = warehouse();
    let table_dir = dir.join(kind.name());
    let _ = std::fs::remove_dir_all(&table_dir);
    let location = warehouse.location(kind.name());
    let metadata =
        tracelake_lake::table::new_table_metadata(kind, &location).expect("a table's metadata");
    let options = WriteOptions {
        // Small row groups, so the column metrics of more than one are merged.
        row_group_bytes: 64 * 1024,
        ..WriteOptions::default()
    };
    let mut writer = DataFileWriter::new(
        kind,
        warehouse.clone(),
        location,
        metadata.current_schema().clone(),
        dir.join("staging"),
        options,
    )
    .expect("a writer");
    writer.write(batch).expect("the batch is written");
    let files = block_on(writer.finish()).expect("the files are finished");

    let days = split_by_day(kind, batch).expect("split by day");
    assert_eq!(files.len(), days.len(), "one file per day");
    let written: u64 = files.iter().map(|f| f.record_count()).sum();
    assert_eq!(written, batch.num_rows() as u64, "every row is in a file");

    for file in &files {
        let path = warehouse
            .local_path(file.file_path())
            .expect("a local file");
        let read = read_parquet(&path);
        assert_eq!(
            read.num_rows() as u64,
            file.record_count(),
            "{}",
            file.file_path()
        );
        if days.len() == 1 {
            let sorted = sort_batch(kind, batch).expect("sorted");
            for (i, field) in sorted.schema().fields().iter().enumerate() {
                assert_eq!(
                    read.column(i).as_ref(),
                    sorted.column(i).as_ref(),
                    "column {} of {} reads back as written",
                    field.name(),
                    kind.name()
                );
            }
        }
        if kind == TableKind::Spans {
            check_index(warehouse, file.file_path(), &read);
        }
    }
}

fn read_parquet(path: &std::path::Path) -> RecordBatch {
    let file = std::fs::File::open(path).expect("the data file opens");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("a Parquet file")
        .build()
        .expect("a Parquet reader");
    let schema = reader.schema();
    let batches: Vec<RecordBatch> = reader.map(|b| b.expect("a row group reads")).collect();
    arrow::compute::concat_batches(&schema, &batches).expect("the batches concatenate")
}

/// Every trigram of every row's indexed text lists the row's block.
fn check_index(warehouse: &Warehouse, data_location: &str, rows: &RecordBatch) {
    let path = warehouse
        .path(&index_location(data_location))
        .expect("the index's path");
    let store: Arc<dyn object_store::ObjectStore> = warehouse.store().clone();
    let mut index = block_on(IndexReader::open(store, path))
        .expect("the index reads")
        .expect("a spans file has an index");
    assert_eq!(index.footer.rows, rows.num_rows() as u64);
    let mut row_keys: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); rows.num_rows()];
    for name in INDEXED_COLUMNS {
        let column = rows.column_by_name(name).expect("an indexed column");
        let text = column.as_string::<i32>();
        for (row, keys) in row_keys.iter_mut().enumerate() {
            if text.is_valid(row) {
                keys.extend(trigrams(&fold(text.value(row))));
            }
        }
    }
    let all: BTreeSet<u32> = row_keys.iter().flatten().copied().collect();
    let blocks = block_on(index.lookup(&all)).expect("the postings read");
    let mut block = 0;
    for (row, keys) in row_keys.iter().enumerate() {
        while !index
            .block_rows(block)
            .expect("a row's block")
            .contains(&(row as u64))
        {
            block += 1;
        }
        for key in keys {
            let listed = blocks
                .get(key)
                .is_some_and(|b| b.binary_search(&block).is_ok());
            assert!(
                listed,
                "row {row}'s trigram {key:#x} does not list block {block}"
            );
        }
    }
}
