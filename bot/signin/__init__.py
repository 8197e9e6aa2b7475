"""Signing the user in, and carrying on with what they asked for once they are.

A PIM write acts as the user, with their delegated token. When there is none (Teams SSO has not got one yet) or PIM
wants a stronger one (MFA, a Conditional Access authentication context), the command the user sent is kept, they are
sent a sign-in card, and once they have signed in the command runs again through a callback of the router's; the
user does not retype it.

* `rounds` — the round trips of a turn (`SignIns`): ask, complete, resume, retire the sign-in card, sign out.
* `sso` — Teams SSO through the Azure Bot's OAuth connection and the Bot Framework token service.
* `stepup` — the step-up sign-in's pages (`/auth/stepup/start`, `/auth/stepup/callback`) and the tokens it got.
* `state` — what is kept meanwhile (a command waiting, the last sign-in card, a step-up link or flow under way):
  typed records, each taken exactly once.
"""

from bot.signin.rounds import MISMATCH, Resume, SignIns, log_mismatch
from bot.signin.sso import ExchangeResult, SsoSignIn, SsoTokenProvider
from bot.signin.state import PendingCommand, PendingCommands
from bot.signin.stepup import CALLBACK_PATH, START_PATH, StepUp, build_step_up_msal

__all__ = [
    "CALLBACK_PATH",
    "MISMATCH",
    "START_PATH",
    "ExchangeResult",
    "PendingCommand",
    "PendingCommands",
    "Resume",
    "SignIns",
    "SsoSignIn",
    "SsoTokenProvider",
    "StepUp",
    "build_step_up_msal",
    "log_mismatch",
]
