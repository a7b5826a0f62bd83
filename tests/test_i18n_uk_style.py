"""Ukrainian as a native speaker writes it: the mistakes once seen in the real bot never return.

Each pattern is a calque, a wrong case or a second term for one concept (see the "Ukrainian
terms" glossary in UX.md); the scan covers every msgstr of the uk catalog, plural forms too.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.i18n import use_locale
from tests.accounts import sample_account

CATALOG = Path(__file__).resolve().parents[1] / "locales" / "uk" / "LC_MESSAGES" / "messages.po"

# (pattern, what is wrong with it and what to write instead)
BAD_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"(\}|\d)\s*(пункт\w*|п\.)", "percentage points after a number: `в. п.`"),
    (r"відсоткових пунктів", "percentage points as a unit: `в. п.`"),
    (r"симул|симуляц|симульов", "dry-run is `тестовий режим` / `змодельовано`"),
    (r"[Бб]азова валюта", "the quote is `валюта розрахунку` (the base of BTC/USDT is BTC)"),
    (r"угоди не потрібні", "one term: `ребалансування не потрібне`"),
    (r"задовго", "`задовго` means 'long before': `Повідомлення задовге.`"),
    (r"Це не можна скасувати", "`Цю дію не можна скасувати.`"),
    (r"РЕАЛЬНО:", "`РЕАЛЬНА ТОРГІВЛЯ: справжні ордери`"),
    (r"одним поглядом", "a calque of 'at a glance': `Стан автоматичного ребалансування`"),
    (r"Забути ключі", "`Видалити ключі біржі`"),
    (r"із цільових", "`58,8% (ціль 10,0%, +48,8 в. п.)`"),
    (r"секрет API", "`секретний ключ (Secret Key)`"),
    (r"/cancel — зупинити|щоб зупинитися", "one verb for /cancel: `/cancel — скасувати`"),
    (r"Скажіть, скільки", "`Вкажіть кількість…`"),
    (r"Використайте", "a calque of 'use': `Надішліть…` / `Вкажіть…`"),
    (r"Кожні \{interval\}", "`кожні 1 година` does not agree: `Інтервал: {interval}`"),
)


def _ukrainian_strings() -> list[tuple[str, str]]:
    with CATALOG.open("rb") as handle:
        catalog = read_po(handle, locale="uk")
    found = []
    for message in catalog:
        if not message.id:
            continue
        msgid = message.id[0] if isinstance(message.id, tuple) else message.id
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        found += [(msgid, text) for text in strings if text]
    return found


@pytest.mark.parametrize(("pattern", "why"), BAD_PATTERNS)
def test_no_known_mistake_in_the_ukrainian_catalog(pattern: str, why: str) -> None:
    offenders = [(msgid, text) for msgid, text in _ukrainian_strings() if re.search(pattern, text)]
    assert offenders == [], why


def test_single_words_that_were_wrong() -> None:
    strings = dict(_ukrainian_strings())
    assert strings["failed"] == "помилка"  # `Останній результат: невдало` read as an adverb
    assert strings["no trade needed"] == "ребалансування не потрібне"


def test_missing_parts_are_in_the_genitive() -> None:
    from bot.views.status import missing_for_run

    with use_locale("uk"):
        text = missing_for_run(False, False)
    assert "Бракує: ключів біржі (/keys), цілей (/targets або /index)." in text


def test_confirmations_say_what_changed() -> None:
    from bot.services.accounts import Strategy
    from bot.views.targets import threshold_set

    account = sample_account(strategy=Strategy(threshold=Decimal(5)))
    with use_locale("uk"):
        assert threshold_set(account) == "Поріг змінено: 5 в. п."
