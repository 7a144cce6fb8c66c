//! Black-box tests of the simulator: a real HTTP server on loopback, a small skill written in
//! the tests, and (in `python_sdk`) Amazon's own Python clients.

mod browser;
mod common;
mod drivers;
mod gadgets;
mod gateway;
mod lwa;
mod python_sdk;
mod robustness;
mod services;
