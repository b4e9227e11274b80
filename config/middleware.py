"""Middleware tuned for the JSON API."""

from django.contrib.messages.middleware import MessageMiddleware as DjangoMessageMiddleware


class MessageMiddleware(DjangoMessageMiddleware):
    """Django's, minus the API: messages are shown by the HTML pages (admin, dashboard), never
    by the JSON API under /api/, where setting up their storage was a visible cost on every
    worker request."""

    def process_request(self, request):
        if not request.path_info.startswith("/api/"):
            super().process_request(request)
