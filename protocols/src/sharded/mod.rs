//! A sharded kv store on a consistent-hash ring (work in progress: the ring).

pub mod ring;
