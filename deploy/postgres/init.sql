-- One database per service (docker-compose, local development only).
-- Runs once, when the postgres volume is first initialised, as POSTGRES_USER,
-- who therefore owns every database. In production, provision these with your
-- usual tooling and give each service its own role.
CREATE DATABASE interact_conversation;
CREATE DATABASE interact_ingest;
CREATE DATABASE interact_routing;
CREATE DATABASE interact_stats;
CREATE DATABASE interact_billing;
CREATE DATABASE interact_sla;
