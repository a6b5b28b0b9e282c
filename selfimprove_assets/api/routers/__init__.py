"""The API's routes by subject; ``api.app.create_app`` adds them to its router in this
order: service, documents, models, pages, export, review."""
