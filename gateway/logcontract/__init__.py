"""The log contract: what the gateway writes and every job reads, defined once.

Self-contained (it imports nothing else of `gateway`, only pyarrow, numpy and pydantic-settings), so
`monitoring` and `evals` import it without pulling in the gateway's insides. Its modules:

    schemas     the Arrow row schemas and partition keys of the two logs (`PREDICTION_LOG`, `LLM_LOG`)
    layout      folder and file names, partition-value encoding, the compaction rule (`live_files`)
    atomic      one Parquet file written atomically, fsynced on local disks
    listing     open a URI (local, s3://, gs://), list the live files of a range of dates
    census      count rows in a time range from row-group statistics
    window      the window readers (`read_window`, `list_versions`, `read_rows`)
    rows        append a table of rows in the layout (`write_rows`)
    compact     compaction, retention and stale temporary files (`modelgate logs compact`)
    locations   where everything lives, with `MODELGATE_*` applied exactly as the gateway does
    job_results the job-result file format

Nothing is imported here, so `import gateway.logcontract.locations` stays cheap.
"""
