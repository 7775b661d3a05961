//! Container networking: published ports and the firewall rules behind them.

pub mod firewall;
pub mod ports;
