"""The WeChat Official Account (公众号) channel: the platform's webhook files followers'
messages into tickets, agents' replies go back through its customer-service message API,
and a follower may bind their OKPay account with a one-time code."""
