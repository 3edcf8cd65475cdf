"""The HTTP gateway: departments sign in with their registered keys and act within their on-chain roles.

``create_app(ledger)`` builds the FastAPI application; ``api.main:app`` is the one uvicorn serves (it opens the
embedded ledger on startup). Route handlers are thin: every rule lives in ``ledger/*``.
"""
