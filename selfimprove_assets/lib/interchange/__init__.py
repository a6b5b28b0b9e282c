"""Labeled data in and out: Label Studio, FUNSD and SROIE into the labeled-corpus contract, and
committed reviews out (as ``labels.jsonl`` that ``selfimprove ingest`` reads back, or as a
Label Studio import)."""
