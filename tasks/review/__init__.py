"""The review loop: Frame.io's answers to an upload ("playable", comments, review Status) in
Discord, from webhooks (:mod:`blocks.webhook_receiver`) or, without a public URL, a poll.

* :mod:`tasks.review.embeds` - the Discord embeds (the edited upload message, replies);
* :mod:`tasks.review.effects` - what each event does, each effect claimed once in the state
  store (webhook and poll share the claims);
* :mod:`tasks.review.announce` - the ingest's upload message, kept so it can be edited;
* :mod:`tasks.review.poll` - the polling fallback;
* :mod:`tasks.review.service` - the receiver and the poll put together for one installation.

The messages' words (English, French) are in :mod:`tasks.notify.review_words`. In the rooms of
``tasks/`` this one is on top: it uses the clients and the rooms below.
"""
