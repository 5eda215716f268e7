"""What leaves the registry: the analysts' DuckDB/Parquet inventory and the compliance
exports (CycloneDX ML-BOM, EU AI Act, ISO/IEC 42001, NIST AI RMF, model cards)."""
