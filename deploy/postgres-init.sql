-- Run once by the postgres image on an empty data volume (docker-compose.yaml): the Dagster
-- instance uses POSTGRES_DB (dagster); the feedback store and MLflow get their own databases.
CREATE DATABASE selfimprove;
CREATE DATABASE mlflow;
