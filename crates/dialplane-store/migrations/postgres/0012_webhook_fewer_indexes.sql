-- Two indexes fewer on webhook deliveries, each written by every write that queues or records one:
-- an endpoint's pending deliveries are found through the index of pending deliveries, the log's
-- endpoint filter reads the workspace's log, and the log's purge walks deliveries in the order of
-- their ids (a delivery's id tells when it was created, and none ends before it is created).
DROP INDEX webhook_deliveries_by_endpoint;
DROP INDEX webhook_deliveries_ended;
