"""The first-deploy wizard: scan, provider, secrets, domain, review + deploy, promote."""

from cockpit.screens.wizard.screen import WizardScreen

__all__ = ["WizardScreen"]
