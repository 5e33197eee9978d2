"""`csm-questionnaire`: serve, the operator's commands, or `signing-keys` (`signing_keys`)."""

from csm_kernel.relay import MessageSigner
from csm_kernel.runtime import service_main
from csm_kernel.signing import KeyDirectory

from ..bootstrap import QuestionnaireSettings, build_app, public_topic_signer
from .signing_keys import signing_keys_command


def _republish_signer() -> MessageSigner:
    # `republish` signs what it sends again, as the running relay does.
    return public_topic_signer(KeyDirectory(QuestionnaireSettings().signing_key_dir))


def main() -> None:
    service_main(
        "questionnaire",
        build_app,
        commands={
            "signing-keys": signing_keys_command(lambda: QuestionnaireSettings().signing_key_dir)
        },
        signer=_republish_signer,
    )
