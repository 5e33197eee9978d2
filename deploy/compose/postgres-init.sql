-- Runs once, when the postgres container initialises an empty data volume
-- (docker-entrypoint-initdb.d). One database per service that keeps data (the portal keeps
-- none: it calls the services): each service owns its data.
-- To re-run it: docker compose down -v (drops the volume and every event store in it).
CREATE DATABASE registration;
CREATE DATABASE questionnaire;
CREATE DATABASE reporting;
CREATE DATABASE notification;
