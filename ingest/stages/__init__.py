"""The stages of one page, in order: contract -> render -> (redaction, policies/) -> chunking ->
embedding + lexical -> writer, with staging running the middle part (in a child process when
serving) and the deletion guard and sync horizon around them. Stages hold no state of their own
between pages; what is remembered lives in ingest.store."""
