"""What an operator sees of the bot at work: Prometheus metrics (`metrics`), the turn's ids for the logs
(`context`), one JSON object per log line (`logs`), OpenTelemetry tracing when configured (`tracing`), and readiness
(`ready`). None of it knows the Bot Framework: bot.transport and the desks report to it."""
