//! Planner: desired graph, observed state, diff into a Plan.
