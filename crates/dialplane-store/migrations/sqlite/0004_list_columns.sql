-- A list page reads each agent's tags and metadata from columns of their own, written with the
-- document, instead of parsing the whole document twice (json_extract) for every row of the page.

ALTER TABLE agents ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
ALTER TABLE agents ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';

UPDATE agents
SET tags = json_extract(document, '$.tags'),
    metadata = json_extract(document, '$.metadata');
