"""The API's routes, one module per resource group, all acting through :mod:`..deps`."""
