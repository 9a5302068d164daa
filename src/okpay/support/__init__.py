"""The service centre: tickets from every channel, SLA clocks, the agent console."""
