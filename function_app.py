"""The Azure Function App: registers the blueprints in handlers/ and nothing else."""
import azure.functions as func

from handlers.ingest import bp as ingest

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(ingest)
