//! Asynchronous primary-backup replication (under construction).
