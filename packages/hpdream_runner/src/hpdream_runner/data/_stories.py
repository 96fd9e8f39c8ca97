"""The ``builtin`` data set: a deterministic generator of simple children's stories.

Written for hpdream so that every study can train offline on the same text.
Each story is a small plot (a lost thing, a new friend, a trip, a storm, a
skill learned, a party, a collection counted, a dream, an animal helped, a
thing built) told in short sentences about one or two characters, a place
and an object.

The common words repeat a lot, as in real children's stories; the tail is
long on purpose, so that a byte-pair vocabulary of 8,192 tokens fills:
invented names and towns built from syllables, compound words
(``moonpebble``, ``puddlehopper``), and numbers. Word choice within a pool is
skewed (``u ** 2``), so the later words of each pool are rarer.

Story ``i`` of seed ``s`` depends only on ``(s, i)`` and the split (its own
``random.Random``), so the first ``k`` stories of a larger set are the
stories of a smaller one, and the validation stories are a separate stream.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Final, Literal


def _words(text: str) -> tuple[str, ...]:
    """A word pool from one comma-separated string."""
    return tuple(word.strip() for word in text.split(","))


# ---------------------------------------------------------------------------------------------
# Word pools (earlier entries are picked more often)
# ---------------------------------------------------------------------------------------------

_GIRL_NAMES: Final = _words(
    "Lily, Mia, Sara, Anna, Lucy, Emma, Zoe, Ella, Rosa, Nora, Ruby, Maya, Ivy, Hana, Amara, "
    "Leila, Clara, Daisy, Greta, Imani, Juno, Kiri, Lena, Mabel, Nia, Olive, Pia, Quinn, "
    "Sofia, Tess, Uma, Vera, Wren, Yara, Asha, Bea, Cora, Dina, Esme, Fern, Gemma, Hazel, "
    "Iris, Jade, Kaya, Luna, Mira, Noor, Opal, Poppy, Rina, Sunny, Talia"
)
_BOY_NAMES: Final = _words(
    "Tom, Ben, Max, Sam, Leo, Jack, Tim, Finn, Omar, Hugo, Kai, Noah, Eli, Arlo, Bruno, "
    "Caleb, Dev, Ezra, Felix, Gus, Hari, Ivan, Jonah, Kofi, Luca, Milo, Nico, Oscar, Pablo, "
    "Remy, Theo, Umar, Vik, Wes, Yusuf, Zane, Amir, Basil, Cyrus, Dario, Emil, Ford, Gideon, "
    "Idris"
)
_ANIMALS: Final = _words(
    "rabbit, cat, dog, bear, fox, bird, duck, mouse, frog, owl, puppy, kitten, turtle, lion, "
    "pig, cow, horse, sheep, goat, squirrel, hedgehog, dragon, robot, elephant, monkey, "
    "penguin, tiger, zebra, giraffe, deer, badger, otter, beaver, mole, snail, bee, ladybug, "
    "butterfly, whale, dolphin, seal, crab, goose, hen, chick, lamb, pony, donkey, raccoon, "
    "koala, panda, kangaroo, camel, llama, parrot, swan, crow, wolf, moose, walrus, octopus, "
    "starfish, firefly, caterpillar, lizard, chipmunk, ferret"
)
_ADJECTIVES: Final = _words(
    "little, happy, brave, kind, small, big, curious, shy, silly, sleepy, clever, gentle, "
    "funny, busy, quiet, tiny, friendly, proud, cheerful, careful, playful, grumpy, lonely, "
    "helpful, bright, bouncy, fluffy, speedy, wise, young, old, lucky, polite, noisy, messy, "
    "tidy, patient, bold, dreamy, fearless, giggly, hungry, jolly, merry, nimble, plucky, "
    "restless, sparkly, stubborn, thoughtful, wobbly, zany, daring, honest"
)
_COLORS: Final = _words(
    "red, blue, green, yellow, pink, purple, orange, white, black, brown, golden, silver, "
    "gray, shiny, striped, spotted, bright red, pale blue, dark green, rosy, lemon, violet, "
    "turquoise, copper, crimson, amber"
)
_THINGS: Final = _words(
    "ball, kite, hat, book, box, toy, cup, doll, drum, key, shell, balloon, blanket, bucket, "
    "bell, boat, car, crayon, flower, jar, lamp, map, mitten, necklace, pebble, pillow, "
    "ribbon, ring, rope, scarf, shoe, sock, spoon, stick, stone, teddy bear, train, truck, "
    "umbrella, whistle, wagon, basket, button, candle, clock, feather, flag, guitar, "
    "harmonica, kettle, ladder, marble, mirror, notebook, paintbrush, puzzle, rocket, "
    "sandcastle, scooter, seashell, shovel, sled, telescope, trumpet, violin, yo-yo, compass, "
    "lantern, medal, ornament, parcel, quilt, robe"
)
_FOODS: Final = _words(
    "apple, cookie, cake, bread, soup, carrot, banana, pie, honey, cheese, grapes, milk, "
    "pancakes, berries, ice cream, muffin, pear, plum, popcorn, pumpkin, sandwich, "
    "strawberries, peach, porridge, lemonade, jam, noodles, corn, peas, cherries, biscuits, "
    "waffles, melon, figs, dumplings, rice"
)
_PLACES: Final = _words(
    "park, garden, forest, beach, farm, house, school, river, lake, hill, meadow, village, "
    "town, zoo, pond, field, kitchen, library, market, playground, castle, cave, island, "
    "mountain, orchard, barn, bakery, harbor, jungle, desert, valley, swamp, attic, backyard, "
    "bridge, lighthouse, museum, station, tree house, treetop, woods, sea, shore"
)
_FEELINGS: Final = _words(
    "happy, sad, scared, excited, proud, surprised, tired, glad, worried, angry, calm, brave, "
    "grateful, nervous, curious, lonely, delighted, puzzled, hopeful, amazed, bored, cozy, "
    "embarrassed, jealous, relieved"
)
_WEATHER: Final = _words(
    "sunny, rainy, windy, cloudy, snowy, warm, cold, foggy, stormy, bright, chilly, hot, "
    "misty, breezy, frosty, gloomy, muggy"
)
_TIMES: Final = _words(
    "One day, Once upon a time, One morning, One sunny day, Long ago, One evening, Last "
    "summer, One winter day, On a rainy afternoon, Every morning, One night, One spring day, "
    "A long time ago, One autumn morning, On Saturday, On a windy day, Early one morning, "
    "Late one night, On the first day of spring"
)
_GAMES: Final = _words(
    "tag, hide and seek, catch, jump rope, leapfrog, hopscotch, ball, pretend, marbles, "
    "follow the leader, tug of war, dress-up, red light green light"
)
_SKILLS: Final = _words(
    "swim, ride a bike, whistle, read, climb a tree, fly a kite, bake bread, tie a knot, "
    "paint, sing, dance, skate, juggle, count to one hundred, play the drum, build a nest, "
    "catch a fish, write a letter, plant a seed, sew a button, row a boat, play the flute, do "
    "a cartwheel, knit a scarf"
)
_COLLECTABLES: Final = _words(
    "stars, leaves, shells, stones, buttons, acorns, feathers, flowers, beads, stamps, "
    "marbles, bugs, clouds, apples, pinecones, snowflakes, cookies, birds, boats, ducks, "
    "coins, ribbons, raindrops, fireflies"
)
_SOUNDS: Final = _words(
    "a loud bang, a soft squeak, a funny noise, a tiny voice, a big splash, a gentle knock, a "
    "strange hum, a sad cry, a happy song, a rumble, a whoosh, a buzz, a crunch, a pop, a "
    "jingle, a quack, a sneeze"
)

# Building blocks of the long tail.
_ONSETS: Final = _words(
    "b, br, d, dr, f, fl, g, gr, h, j, k, l, m, n, p, pl, r, s, sn, t, tr, v, w, z, ch, sh, "
    "th, qu, gl, st, sk, bl, cr, pr, sp, wh, y, kl, fr, sl"
)
_VOWELS: Final = _words("a, e, i, o, u, ee, oo, ai, ou, y, ea, oa, ie, au")
# Three empty codas: most syllables end in their vowel.
_CODAS: Final = (
    "",
    "",
    "",
    *_words(
        "n, m, l, r, b, p, ck, x, sh, nd, ll, tt, mble, ggle, wick, by, kin, pp, st, ng, ff, zz"
    ),
    *_words("th, sk, rt, dle, ber"),
)
_PREFIXES: Final = _words(
    "moon, sun, star, rain, snow, cloud, leaf, moss, pine, sea, sand, mud, honey, berry, "
    "apple, puddle, pebble, thunder, frost, fire, tree, river, hill, meadow, button, candy, "
    "sugar, pepper, mushroom, feather, whisker, bubble, glitter, rainbow, shadow, wind, "
    "acorn, clover, dew, ember, velvet, marble, thistle, willow, bramble, cinder, maple, lily"
)
_SUFFIXES: Final = _words(
    "berry, flower, stone, shell, drop, cake, light, bug, bell, hopper, wing, tail, seed, "
    "nut, pod, leaf, fly, worm, fish, bird, cap, boot, lamp, kite, drum, ball, box, jar, "
    "coat, nest, whistle, pebble, sprout, crumb, button, puff, flake, patch, bloom, glow"
)
_PLACE_ENDINGS: Final = (
    *_words("ton, ville, bury, wick, dale, ford, field, brook, wood, haven"),
    *(" " + word for word in _words("Hollow, Hill, Creek, Falls, Meadow, Bay, Grove")),
)


def _pick(rng: random.Random, pool: Sequence[str]) -> str:
    """A word of ``pool``, earlier words more often (the index is ``len * u**2``)."""
    u = rng.random()
    return pool[int(len(pool) * u * u)]


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def invented_word(rng: random.Random, syllables: int) -> str:
    """A made-up word of a few syllables (lower case)."""
    return "".join(
        _pick(rng, _ONSETS) + _pick(rng, _VOWELS) + _pick(rng, _CODAS) for _ in range(syllables)
    )


def _invented_name(rng: random.Random) -> str:
    return invented_word(rng, 1 + (rng.random() < 0.7) + (rng.random() < 0.2)).capitalize()


def _compound(rng: random.Random) -> str:
    first, second = _pick(rng, _PREFIXES), _pick(rng, _SUFFIXES)
    return first + second if first != second else first + "kin"


def _thing(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.2:
        return _compound(rng)
    if r < 0.55:
        return f"{_pick(rng, _COLORS)} {_pick(rng, _THINGS)}"
    return _pick(rng, _THINGS)


def _place(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.15:
        ending = _pick(rng, _PLACE_ENDINGS)
        return f"the town of {invented_word(rng, 1 + (rng.random() < 0.5)).capitalize()}{ending}"
    if r < 0.25:
        return f"the {_compound(rng)} woods"
    return "the " + _pick(rng, _PLACES)


class _Character:
    __slots__ = ("adj", "he", "him", "his", "kind", "name")

    def __init__(self, rng: random.Random, avoid: str = "") -> None:
        girl = rng.random() < 0.5
        if rng.random() < 0.35:
            name = _invented_name(rng)
        else:
            name = _pick(rng, _GIRL_NAMES if girl else _BOY_NAMES)
        if name == avoid:
            name = name + "y" if not name.endswith("y") else name + "n"
        self.name = name
        self.kind = ("girl" if girl else "boy") if rng.random() < 0.45 else _pick(rng, _ANIMALS)
        self.adj = _pick(rng, _ADJECTIVES)
        self.he, self.him, self.his = ("she", "her", "her") if girl else ("he", "him", "his")


# ---------------------------------------------------------------------------------------------
# Plots: each stage is a list of sentence templates, one is chosen per stage
# ---------------------------------------------------------------------------------------------

_Stage = tuple[str, ...]

_INTRO: Final[_Stage] = (
    "{time}, there was {a_adj} {kind} named {name}.",
    "{time}, {a_adj} {kind} called {name} lived near {place}.",
    "{name} was {a_adj} {kind}. {He} lived in {place} with {his} family.",
    "{time}, {name} the {kind} woke up early. The day was {weather}.",
    "There once was {a_adj} {kind}. {His} name was {name}, and {he} was {age} years old.",
    "{name} was {a_adj} {kind} who loved {food}.",
)
_SETTING: Final[_Stage] = (
    "The sky was {weather} and the birds were singing.",
    "It was a {weather} day, and {name} wanted to go to {place}.",
    "{name} liked to play {game} with {his} friends.",
    "Every day, {name} went to {place} to look for {things}.",
    "{He} had {a_thing} that {he} loved very much.",
    "{His} favorite thing in the whole world was {his} {thing}.",
    "Mom made {food} for breakfast, and {name} ate it all.",
)
_ENDING: Final[_Stage] = (
    "From that day on, {name} and {friend} were best friends.",
    "{name} smiled. It had been a very good day.",
    "That night, {name} went to sleep feeling {feeling}.",
    "And they all lived happily ever after.",
    "{name} learned that it is good to be kind and to share.",
    "The end.",
    "{name} would never forget that {weather} day at {place}.",
    "Now, whenever {name} sees {a_thing}, {he} remembers {friend}.",
)
_EXTRA: Final[_Stage] = (
    "{name} counted {number} {things} on the way.",
    "The wind blew softly through the trees.",
    "A {fkind} ran past and waved hello.",
    "{He} hummed a little song about {food}.",
    "The path was long, but {name} did not mind.",
    "{name} heard {sound} and looked around.",
    "It was {number} steps to the big {thing2}.",
    "{He} felt {feeling}, but {he} kept going.",
    "Somewhere far away, {a_fkind} was singing.",
    "There were {number} {things} in the {weather} sky.",
    '"What a {adj} day!" said {name}.',
)

_PLOTS: Final[tuple[tuple[_Stage, ...], ...]] = (
    # A lost thing
    (
        (
            "One day, {name} could not find {his} {thing}.",
            "When {name} woke up, {his} {thing} was gone!",
            "{name} looked in {his} room, but the {thing} was not there.",
        ),
        (
            '"Oh no! Where is my {thing}?" cried {name}.',
            "{name} felt {feeling}. {He} looked under the bed and behind the door.",
            "{He} searched the whole house, {number} rooms in all.",
        ),
        (
            "{name} asked {friend} the {fkind} for help.",
            '{friend} the {fkind} came by. "I will help you look," said {friend}.',
            "Then {friend}, {a_fadj} {fkind}, offered to help.",
        ),
        (
            "They looked in {place} and by the old {thing2}.",
            "Together they walked to {place}. They looked high and low.",
            "They followed a trail of {food} crumbs all the way to {place}.",
        ),
        (
            "At last, {friend} found the {thing} under a big leaf!",
            'Suddenly {name} saw something {color}. "There it is!" {he} shouted.',
            "The {thing} was sitting in a puddle, a little wet but safe.",
        ),
        (
            '{name} hugged {friend}. "Thank you so much!" {he} said.',
            "{name} was so {feeling} that {he} danced around.",
        ),
    ),
    # A new friend
    (
        (
            "{name} was new in {place} and did not know anyone.",
            "{name} sat alone in {place}. {He} wished {he} had a friend.",
            "All the other animals were playing, but {name} was too shy to ask.",
        ),
        (
            "Then {a_fadj} {fkind} named {friend} walked up to {him}.",
            '"Hello! My name is {friend}. Do you want to play {game}?" asked a {fkind}.',
            "{friend} the {fkind} saw {name} and came over with {a_thing2}.",
        ),
        (
            "{name} smiled and said yes.",
            '"I would love to!" said {name}.',
            "At first {name} was {feeling}, but then {he} nodded.",
        ),
        (
            "They played {game} until the sun went down.",
            "They shared {food} and told funny stories.",
            "They ran around {place} and laughed and laughed.",
            "They built a fort out of {number} boxes and an old {thing2}.",
        ),
    ),
    # A trip
    (
        (
            "{name} wanted to see {place}.",
            '"Today we will go to {place}," said Dad. {name} jumped with joy.',
            "{name} packed {a_thing}, some {food} and a map for the trip to {place}.",
        ),
        (
            "The road was long and bumpy.",
            "They rode on a train for {number} minutes.",
            "On the way, {name} saw {number} {things} by the road.",
            "{He} walked over a little bridge and up a green hill.",
        ),
        (
            "At {place}, {name} met {a_fadj} {fkind} named {friend}.",
            "When they got there, {name} saw {a_fkind} playing with {a_thing2}.",
            "{place} was bigger than {name} had ever imagined.",
        ),
        (
            "{friend} showed {name} a secret place full of {things}.",
            '"Look!" said {friend}. "I have {number} {things}!"',
            "They climbed a tree and looked at the whole {weather} valley.",
        ),
    ),
    # A storm
    (
        (
            "One day, dark clouds came over {place}.",
            "The sky turned gray and the wind began to blow.",
            "{name} heard thunder far away. A storm was coming!",
        ),
        (
            "{name} was scared of the loud thunder.",
            '"I do not like storms," said {name} in a small voice.',
            "The rain fell hard, and {name} hid under {his} {thing}.",
        ),
        (
            "{friend} the {fkind} knocked on the door, all wet.",
            "Mom sat with {name} and told {him} a story about {a_fkind}.",
            "{friend} came to stay until the rain stopped.",
        ),
        (
            "They counted between the flashes: one, two, three, up to {number}.",
            "They drank warm milk and made a tent with a blanket.",
            "They played {game} inside and forgot about the storm.",
        ),
        (
            "Soon the storm was over and a rainbow shone over {place}.",
            "In the morning, the sun came out and everything was {color} and new.",
        ),
    ),
    # Learning a skill
    (
        (
            "{name} wanted to learn to {skill}.",
            "All of {his} friends could {skill}, but {name} could not.",
            "{name} watched {friend} {skill} and wished {he} could do it too.",
        ),
        (
            "The first time {he} tried, {he} fell down.",
            "{He} tried again and again, but it was very hard.",
            "{He} practiced for {number} days, but it did not work.",
        ),
        (
            '"Do not give up," said {friend} the {fkind}. "Try one more time."',
            'Grandma said, "Go slowly, and be patient."',
            "{friend} showed {him} how to do it, step by step.",
        ),
        (
            "{name} took a deep breath and tried once more.",
            "This time {name} went slowly and did not rush.",
        ),
        (
            "And {he} did it! {name} could {skill}!",
            "It worked! {name} felt so {feeling} and proud.",
        ),
    ),
    # Sharing
    (
        (
            "{name} had a big bag of {food}.",
            "Mom gave {name} {number} pieces of {food}.",
            "{name} found a basket of {food} in {place}.",
        ),
        (
            "{He} wanted to keep it all for {him}self.",
            "Then {name} saw {friend} the {fkind}, who looked hungry.",
            "{friend} had no {food} at all, and {he2} looked {feeling}.",
        ),
        (
            "{name} thought for a moment.",
            "{name} looked at the {food}, and then at {friend}.",
        ),
        (
            '"Here, you can have some," said {name}.',
            "{name} gave half of the {food} to {friend}.",
            "{name} decided to share the {food} with everyone in {place}.",
        ),
        (
            "{friend} smiled a big smile. Sharing made them both happy.",
            "The {food} tasted even better when they ate it together.",
        ),
    ),
    # A surprise party
    (
        (
            "It was {friend}'s birthday, and {friend} was turning {age}.",
            "{name} wanted to make a surprise for {friend}.",
            "Tomorrow was a special day: the {number}th party in {place}!",
        ),
        (
            "{name} baked a cake with {food} on top.",
            "{He} made a card with {color} paper and {number} stickers.",
            "{He} hung {color} balloons all over {place}.",
        ),
        (
            "All the animals hid behind the {thing2} and waited.",
            "{name} asked {a_fkind} to keep the secret.",
        ),
        (
            'When {friend} came in, everyone jumped up and shouted, "Surprise!"',
            "{friend} opened the door and gasped.",
        ),
        (
            "{friend} was so {feeling} that {he2} laughed and clapped.",
            "They sang songs and ate cake until they were full.",
        ),
    ),
    # A collection counted
    (
        (
            "{name} loved to collect {things}.",
            "{name} kept {his} {things} in a {color} box under the bed.",
        ),
        (
            "{He} had {number} {things} already.",
            "Every day {he} found one more. Soon {he} had {number}.",
        ),
        (
            "One day {he} found a very special one near {place}.",
            "One morning, {friend} the {fkind} brought {him} a {color} one.",
        ),
        (
            "It was the most beautiful one {he} had ever seen.",
            "It was shaped like a {thing2} and it sparkled in the sun.",
        ),
        (
            "{name} put it on the top shelf, where everyone could see it.",
            "Now {name} had {number2} {things}, and {he} was very {feeling}.",
        ),
    ),
    # A dream
    (
        (
            "That night, {name} had a strange dream.",
            "{name} fell asleep and dreamed of {place}.",
        ),
        (
            "In the dream, {he} could fly over the trees like a bird.",
            "In the dream, the {thing} could talk!",
            "In the dream, {name} was as big as a mountain.",
            "In the dream, there were {number} moons in the sky.",
        ),
        (
            '"Follow me," said a {color} {fkind}. "I know a secret."',
            "{He} met {a_fkind} named {friend} who wore a {color} hat.",
        ),
        (
            "They went to a land where the rivers were made of {food}.",
            "They danced on the clouds and slid down a rainbow.",
            "They found a door in a tree, and behind it was {a_thing2}.",
        ),
        (
            "When {name} woke up, {he} was in {his} own bed again.",
            "Then the sun came up, and the dream was over.",
        ),
    ),
    # An animal helped
    (
        (
            "{name} heard {sound} coming from {place}.",
            "Near the pond, {name} saw a little {fkind} stuck in the mud.",
            "{name} found a tiny {fkind} with a hurt wing.",
        ),
        (
            '"Please help me," said the {fkind}. "I cannot get home."',
            "The {fkind} looked scared and cold.",
        ),
        (
            "{name} picked it up very gently.",
            "{name} made a soft bed for it out of {his} {thing}.",
            "{name} gave it some {food} and water.",
        ),
        (
            "For {number} days, {name} took care of the {fkind}.",
            "The {fkind} grew stronger every day.",
        ),
        (
            "At last, the {fkind} was well again and flew back to its family.",
            '"Thank you, {name}," said the {fkind}. "You are a true friend."',
        ),
    ),
    # Building something
    (
        (
            "{name} and {friend} wanted to build a {compound}.",
            '"Let us build the biggest {thing2} in {place}!" said {name}.',
        ),
        (
            "They found {number} sticks, some string and an old {thing}.",
            "They worked all morning with hammers and glue.",
        ),
        (
            "But then it fell down with a crash!",
            "The wind blew it over, and they had to start again.",
        ),
        (
            "This time they made it stronger, with {number2} more sticks.",
            "{friend} had a good idea: they tied it with a {color} ribbon.",
        ),
        (
            "When it was done, it was the best {compound} anyone had ever seen.",
            "Everyone in {place} came to look at it.",
        ),
    ),
)


def _story(rng: random.Random) -> str:
    hero = _Character(rng)
    friend = _Character(rng, avoid=hero.name)
    thing = _thing(rng)
    plot = _PLOTS[rng.randrange(len(_PLOTS))]
    slots = {
        "name": hero.name,
        "kind": hero.kind,
        "adj": hero.adj,
        "a_adj": _a(hero.adj),
        "he": hero.he,
        "He": hero.he.capitalize(),
        "him": hero.him,
        "his": hero.his,
        "His": hero.his.capitalize(),
        "friend": friend.name,
        "fkind": friend.kind,
        "a_fkind": _a(friend.kind),
        "a_fadj": _a(friend.adj),
        "he2": friend.he,
        "thing": thing,
        "a_thing": _a(thing),
        "thing2": _pick(rng, _THINGS),
        "a_thing2": _a(_thing(rng)),
        "compound": _compound(rng),
        "place": _place(rng),
        "time": _pick(rng, _TIMES),
        "weather": _pick(rng, _WEATHER),
        "food": _pick(rng, _FOODS),
        "color": _pick(rng, _COLORS),
        "feeling": _pick(rng, _FEELINGS),
        "game": _pick(rng, _GAMES),
        "skill": _pick(rng, _SKILLS),
        "things": _pick(rng, _COLLECTABLES),
        "sound": _pick(rng, _SOUNDS),
        "age": str(rng.randint(3, 12)),
        "number": str(rng.randint(2, 20) if rng.random() < 0.6 else rng.randint(21, 999)),
        "number2": str(rng.randint(21, 2000)),
    }

    def say(template: str) -> str:
        return template.format_map(slots)

    paragraphs: list[list[str]] = [[say(rng.choice(_INTRO))]]
    for _ in range(1 + (rng.random() < 0.5)):
        paragraphs[0].append(say(rng.choice(_SETTING)))
    current = paragraphs[0]
    for stage in plot:
        if rng.random() < 0.35:
            current = []
            paragraphs.append(current)
        current.append(say(rng.choice(stage)))
        while rng.random() < 0.4:
            current.append(say(rng.choice(_EXTRA)))
    paragraphs.append([say(rng.choice(_ENDING))])
    text = "\n\n".join(" ".join(p) for p in paragraphs if p)
    # Capitalise a sentence that starts with a slot such as "the town of ...".
    return text[0].upper() + text[1:]


#: The two streams of stories; validation stories never repeat the training stream's seeds.
Split = Literal["train", "val"]


def story(seed: int, index: int, split: Split = "train") -> str:
    """Story ``index`` of the ``split`` stream for ``seed`` (deterministic)."""
    if index < 0 or index >= 2**32:
        raise ValueError(f"story index must be in [0, 2**32), got {index}")
    stream = 2 * seed + (split == "val")
    return _story(random.Random((stream << 32) | index))


def stories(seed: int, count: int, split: Split = "train", start: int = 0) -> Iterator[str]:
    """Stories ``start`` to ``start + count - 1`` of the ``split`` stream for ``seed``."""
    for index in range(start, start + count):
        yield story(seed, index, split)
