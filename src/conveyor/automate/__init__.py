"""Automation: triggers, alerts and the retraining agent."""
