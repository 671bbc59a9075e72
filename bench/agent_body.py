"""The agent the suite creates: a full, valid create body of about 3 KB, like a real phone agent with a
few paragraphs of prompt and most sections filled in. Stdlib only.

`python3 bench/agent_body.py` prints one body and its size.
"""

import json

# The knowledge-base documents the agent names: they must exist in the server's workspace, so the suite
# creates two and puts their ids here (`use_documents`) before it builds a body for that server.
KNOWLEDGE_BASE: list[str] = []


def use_documents(ids: list[str]) -> None:
    KNOWLEDGE_BASE[:] = ids

PROMPT = """\
You are Maya, the phone receptionist of Harbor Dental Care, a family dental clinic with two locations \
(Rue de Rivoli and Canal Street). You answer inbound calls and call patients back about their \
appointments. Speak warmly and briefly, one or two sentences at a time, and let the caller finish before \
you answer. Never give medical advice: if a caller describes pain, swelling or bleeding that worries \
them, offer the earliest emergency slot and, if they sound in danger, tell them to call the emergency \
number at once.

To book a visit, collect the patient's full name, date of birth, phone number, the reason for the visit \
and the preferred location, then propose at most three free slots from the calendar tool. Read dates \
back in full ("Tuesday the fourth of March at half past two") and confirm before you book. New patients \
must bring an ID and their insurance card; remind them at the end of the call.

To cancel or move a visit, find it by name and date of birth, confirm which visit it is, and offer the \
next free slots. Cancellations less than 24 hours ahead carry a fee of 30 euros; mention it once, \
politely, and do not argue about it.

End the call with a short summary of what was agreed."""


def body(name: str = "__NAME__") -> dict:
    return {
        "name": name,
        "direction": "both",
        "tags": ["dental", "reception", "emea", "bench"],
        "conversationConfig": {
            "agent": {
                "prompt": {
                    "prompt": PROMPT,
                    "llm": "gpt-4.1-mini",
                    "temperature": 0.3,
                    "toolIds": ["calendar-lookup", "calendar-book", "patient-search"],
                    "builtInTools": {
                        "endCall": {"enabled": True, "description": "End the call once the caller is done."},
                        "languageDetection": {"enabled": True},
                        "transferToNumber": {
                            "enabled": True,
                            "description": "Transfer to the front desk when the caller asks for a person.",
                            "transfers": [
                                {
                                    "condition": "The caller asks for a person during opening hours",
                                    "transferDestination": {"phoneNumber": "+33142685300"},
                                }
                            ],
                        },
                        "voicemailDetection": {
                            "enabled": True,
                            "voicemailMessage": "Hello, this is Harbor Dental Care calling about your appointment. "
                            "Please call us back at your convenience.",
                        },
                    },
                    "knowledgeBase": list(KNOWLEDGE_BASE),
                    "timezone": "Europe/Paris",
                },
                "greetingMessage": "Hello, Harbor Dental Care, this is Maya. How can I help you today?",
                "primaryLanguage": "en",
                "dynamicVariables": {"clinic": "Rue de Rivoli", "cancellation_fee_eur": 30, "accepts_new_patients": True},
            },
            "asr": {"userInputAudioFormat": "pcm_16000", "keywords": ["Harbor", "Rivoli", "orthodontist", "hygienist"]},
            "turn": {"turnTimeout": 5, "silenceEndCallTimeout": 60, "turnEagerness": "patient"},
            "tts": {
                "voiceId": "cjVigY5qzO86Huf0OWal",
                "supportedVoices": [
                    {"label": "Maya (EN)", "voiceId": "cjVigY5qzO86Huf0OWal", "language": "en", "stability": 0.6},
                    {"label": "Maya (FR)", "voiceId": "XB0fDUnXU5powFXDhCwa", "language": "fr", "speed": 1.0},
                ],
                "suggestedAudioTags": [{"tag": "warm", "description": "friendly, unhurried"}],
            },
        },
        "platformSettings": {
            "callActions": {
                "postCallWebhook": "http://127.0.0.1:9/dialplane/calls",
                "postCallEmail": {"enabled": True, "emailConfiguration": {"recipients": ["frontdesk@harbor-dental.example"]}},
            },
            "dataCollection": {
                "entities": {
                    "patient_name": {"type": "string", "description": "The patient's full name"},
                    "date_of_birth": {"type": "string", "description": "The patient's date of birth"},
                    "visit_reason": {"type": "string", "description": "Why the patient wants a visit"},
                },
                "storeData": True,
            },
            "callRetry": {"retryCount": 2, "retryDelay": 60},
            "summaryLanguage": "en",
        },
    }


def body_bytes(name: str = "__NAME__") -> bytes:
    return json.dumps(body(name), separators=(",", ":")).encode()


if __name__ == "__main__":
    b = body_bytes("Harbor reception 000001")
    print(b.decode())
    print(f"{len(b)} bytes", flush=True)
