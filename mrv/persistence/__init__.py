"""The relational store: projects, plans, devices, quarantine, events, audit chain."""
