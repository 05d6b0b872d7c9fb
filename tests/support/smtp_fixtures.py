"""Placeholder so pytest_plugins resolves; the SMTP fixtures arrive from the smtp branch."""
