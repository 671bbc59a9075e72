-- Search ranks every passage that matches a query, reading its tsvector: keep passages' rows
-- uncompressed in the table unless one is larger than a page can hold (a tsvector is about twice
-- its passage's text, so the default 2 KB threshold compressed nearly every row and ranking
-- decompressed each), and keep the GIN index without a pending list, which every search scanned
-- from start to end until a vacuum merged it (a knowledge base is written rarely, searched often).
-- Rows written before this keep their storage until their document is extracted again.
ALTER TABLE kb_passages SET (toast_tuple_target = 8160);
ALTER INDEX kb_passages_search SET (fastupdate = off);
SELECT gin_clean_pending_list('kb_passages_search');
