package main

import (
	"time"

	"github.com/deploytokens/deploytokens/internal/webhook"
)

// webhooks is the worker that sends this replica's share of the webhook
// deliveries.
func (a *app) webhooks() *webhook.Worker {
	return &webhook.Worker{
		Service: a.service, Lease: a.cfg.WebhookClaimTimeout, Poll: a.cfg.WebhookPollInterval,
		Backoff: a.cfg.WebhookBackoff, MaxBackoff: 6 * time.Hour, MaxAttempts: a.cfg.WebhookMaxAttempts,
		AllowPrivate: a.cfg.WebhookAllowPrivate, Logger: a.log,
	}
}
