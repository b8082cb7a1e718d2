-- One PostgreSQL server for local/compose use, one database per service (each service owns
-- its data; none reads another's). Runs once, when the data volume is first initialised,
-- as POSTGRES_USER, who therefore owns all three databases.
CREATE DATABASE contracts;
CREATE DATABASE appraisal;
CREATE DATABASE notifications;
