//! The container runtime. Knows nothing of stack files: it takes container,
//! network and volume configs.

pub mod cgroup;
pub mod check;
pub mod container;
pub mod events;
pub mod image;
pub mod monitor;
pub mod network;
pub mod registry;
pub mod security;
pub mod store;
pub mod volume;
