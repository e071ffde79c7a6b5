"""The shipped prompt set for chat probes: short, varied, and the same on every machine.

Probes ask a target one of these with a small ``max_tokens``. They are short so the prompt
costs the target little, varied so a server that caches answers by prompt cannot look faster
than it is, and mixed English and Russian (the course's languages) so a tokenizer or an
encoding path that only works for ASCII shows up. No prompt holds a secret, a name or
anything a team could object to seeing in a log; they ship with clfwatch (no download).
"""

from __future__ import annotations

PROMPTS: tuple[str, ...] = (
    "Say hello in one short sentence.",
    "Name three colours of the rainbow.",
    "What is the capital of France? Answer in one word.",
    "Count from one to five.",
    "Give one synonym for the word 'quick'.",
    "Describe the sea in five words.",
    "What is two plus two?",
    "Write a haiku about autumn leaves.",
    "Name a fruit that is yellow.",
    "Finish the sentence: The early bird...",
    "List three animals that live in the ocean.",
    "What day comes after Monday?",
    "Explain what a queue is in one sentence.",
    "Suggest a name for a grey cat.",
    "Translate 'good morning' into French.",
    "What is the opposite of 'cold'?",
    "Write one sentence about a rainy day.",
    "Name a planet in the solar system.",
    "What does HTTP stand for?",
    "Give an example of a prime number greater than ten.",
    "Describe a cup of tea in one sentence.",
    "What sound does a dog make?",
    "Name two things you can find in a kitchen.",
    "Spell the word 'banana' backwards.",
    "What is the boiling point of water in Celsius?",
    "Give a one-line tip for writing clear code.",
    "Name a musical instrument with strings.",
    "What season comes after winter?",
    "Write a short greeting for a new colleague.",
    "Why is the sky blue? One sentence, please.",
    "Привет! Как дела? Ответь одним предложением.",
    "Назови три города России.",
    "Сколько будет три плюс четыре?",
    "Опиши зиму в пяти словах.",
    "Переведи на английский: «добрый вечер».",
    "Напиши короткое пожелание хорошего дня.",
    "Какой сегодня может быть прогноз погоды? Придумай коротко.",
    "Назови любое животное, которое живёт в лесу.",
    "Say 'ok' and nothing else.",
    "Give a short fun fact about bees.",
)
