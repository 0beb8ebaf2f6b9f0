"""Music beds: which bed a job gets, and the bed itself as ffmpeg input (``ttvd.pipeline.sound`` mixes it).

``music`` is ``none``, ``auto`` (a mood read from the text with a small offline lexicon), a mood, or
a file in the user's music folder. A mood's bed is synthesised by ffmpeg from expressions (a pad of
crossfading chords, plucked or bell arpeggios, bass pulses) and shaped by its filters: four bars
that loop without a seam. The job id picks the key and the arpeggio, so a job always gets the same
bed. No recording is bundled.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ttvd import media
from ttvd.errors import StageError
from ttvd.options import AUTO, MUSIC_MOODS

# Expressions are evaluated sample by sample, which is the cost of a bed: each layer is drawn at the
# lower of these rates that holds its highest partial, then resampled.
SYNTH_RATES = (8000, 16000)
WARM_UP = 1.5        # seconds drawn before the loop so its echoes are already ringing at the loop point
AUDIO_SUFFIXES = (".mp3", ".wav", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac")
_WORD = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True)
class Bed:
    """The bed a job gets: a synthesised ``mood`` or a user's ``file``, and why (for the job log)."""

    name: str
    reason: str
    mood: str | None = None
    file: Path | None = None

    def source(self, seconds: float, seed_text: str, rate: int) -> tuple[list[str], str]:
        """ffmpeg input arguments and a filtergraph ending in the bed as stereo float at ``rate``, to loop.

        A mood's bed is one seamless loop, drawn in the key ``seed_text`` picks; a user's file is its
        first ``seconds`` (all of it if shorter, with its two ends softened so the loop does not click).
        """
        if self.file is None:
            assert self.mood is not None
            return [], mood_graph(self.mood, seed_of(seed_text), rate)
        length = media.duration(self.file)
        if not length:
            raise StageError("render", f"the music file {self.file.name} cannot be read")
        edges = "" if length > seconds else ",afade=t=in:d=0.02,areverse,afade=t=in:d=0.02,areverse"
        return (["-t", f"{seconds:.3f}", "-i", str(self.file)],
                f"[0:a]aresample={rate},aformat=sample_fmts=flt:channel_layouts=stereo{edges}")


# -- choosing ------------------------------------------------------------------------------------------

# A few strong words per mood; a text's mood is the one with most of them (calm when none is found;
# a tie goes to the mood listed first). Plurals are matched by their singular.
LEXICON: dict[str, frozenset[str]] = {
    "tense": frozenset("""storm dark darkness fear afraid danger dangerous war battle fight blood scream
        threat crisis attack chase escape death dead die kill murder crime panic alarm shadow ghost monster
        terror horror urgent warning crash explode explosion enemy trap hunt risk collapse fire thunder
        nightmare deadline fraud scam hack virus disaster emergency peur orage guerre mort""".split()),
    "bright": frozenset("""happy happiness joy fun win winner success celebrate celebration party sun sunny
        summer laugh smile great amazing awesome exciting excited launch easy tip best bright cheer friend
        play dance colour color fresh energy grow morning delicious recipe holiday beach adventure hooray
        yay heureux joie fête soleil""".split()),
    "dreamy": frozenset("""dream star moon sky cloud float magic wonder memory remember whisper sleep
        space galaxy glow midnight fairy imagine mist fog lullaby heaven angel wish ocean drift
        shimmer starlight rêve étoile lune""".split()),
    "calm": frozenset("""calm peace peaceful quiet slow breathe breath relax gentle garden rain
        river lake forest tea home meditation mindful soft warm cozy nature wind sea tide
        evening walk paix calme doux""".split()),
}


def choose(value: str, text: str, music_dir: Path | None) -> Bed | None:
    """The bed that ``music`` option ``value`` means for ``text``; None for no bed.

    A file name that is not in ``music_dir`` is a StageError of the render stage.
    """
    if value == "none":
        return None
    if value == AUTO:
        mood, found = mood_of(text)
        why = f"words like {', '.join(found[:3])}" if found else "no strong mood words, so the neutral one"
        return Bed(mood, f"chosen from the text's mood ({why})", mood=mood)
    if value in MUSIC_MOODS:
        return Bed(value, "as asked", mood=value)
    path = find_file(value, music_dir)
    return Bed(path.name, "from the music folder", file=path)


def mood_of(text: str) -> tuple[str, list[str]]:
    """The mood whose lexicon words occur most often in ``text``, and those words (most frequent first)."""
    counts: dict[str, dict[str, int]] = {mood: {} for mood in LEXICON}
    for word in _WORD.findall(text.casefold()):
        for form in {word, word[:-1] if len(word) > 3 and word.endswith("s") else word}:
            for mood, words in LEXICON.items():
                if form in words:
                    counts[mood][form] = counts[mood].get(form, 0) + 1
    best = max(LEXICON, key=lambda mood: sum(counts[mood].values()))  # ties: the lexicon's order
    found = sorted(counts[best], key=lambda w: -counts[best][w])
    return (best, found) if found else ("calm", [])


def find_file(name: str, music_dir: Path | None) -> Path:
    """The audio file of ``music_dir`` called ``name`` (exactly, then ignoring case, then without suffix)."""
    if music_dir is None:
        raise StageError("render", f"music {name!r} names a file, but no music folder is set (TTVD_MUSIC_DIR)")
    if not music_dir.is_dir():
        raise StageError("render", f"the music folder TTVD_MUSIC_DIR={music_dir} is not a folder")
    files = sorted(p for p in music_dir.rglob("*")
                   if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES and not p.name.startswith("."))
    for matches in (lambda p: p.name == name, lambda p: p.name.casefold() == name.casefold(),
                    lambda p: p.stem.casefold() == name.casefold()):
        found = [p for p in files if matches(p)]
        if found:
            return found[0]
    known = ", ".join(p.name for p in files[:8]) or "no audio files"
    raise StageError("render", f"no music file named {name!r} in {music_dir} ({known})")


def seed_of(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


# -- synthesis -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Arp:
    """Notes ``step`` beats apart taken from the chord by ``pattern`` (indices into the chord, +12 an octave)."""

    step: float
    pattern: tuple[int, ...]
    decay: float            # seconds for a note to fall to 1/e
    voices: int             # notes that may ring at once
    harmonics: tuple[float, ...]
    octave: int = 12


@dataclass(frozen=True)
class Mood:
    bpm: float
    chords: tuple[tuple[int, ...], ...]   # four chords, MIDI notes low to high, in C (transposed per job)
    pad: float                             # the pad's level
    pad_filter: str
    tremolo: tuple[int, float] = (0, 0.0)  # the pad's throb: cycles a loop, depth (0..1)
    arp: Arp | None = None
    arp_level: float = 0.0
    arp_filter: str = "anull"
    pulse: Arp | None = None               # bass pulses: the chord's root, moved by the pulse's octave
    pulse_level: float = 0.0
    pulse_filter: str = "anull"

    @property
    def bar(self) -> float:
        return 4 * 60 / self.bpm


MOODS: dict[str, Mood] = {
    # Slow major sevenths that swell and overlap, a soft bell now and then.
    "calm": Mood(64, ((48, 55, 64, 71), (45, 52, 60, 67), (41, 53, 57, 64), (43, 50, 59, 62)),
                 pad=1.0, pad_filter="lowpass=f=1400",
                 arp=Arp(2, (3, 2, 4, 1), decay=1.2, voices=2, harmonics=(0.15,)), arp_level=0.35,
                 arp_filter="aecho=0.8:0.6:420:0.35"),
    # Major pop changes, plucked eighth notes and a bass on every beat.
    "bright": Mood(116, ((60, 64, 67, 72), (59, 62, 67, 71), (57, 60, 64, 69), (57, 60, 65, 69)),
                   pad=0.45, pad_filter="lowpass=f=2500",
                   arp=Arp(0.5, (0, 1, 2, 3, 4, 3, 2, 1), decay=0.16, voices=1, harmonics=(0.5, 0.25)),
                   arp_level=0.55, arp_filter="highpass=f=200",
                   pulse=Arp(1, (0,), decay=0.22, voices=1, harmonics=(0.3,), octave=-12), pulse_level=0.7,
                   pulse_filter="lowpass=f=600"),
    # A dark minor pad over sixteenth-note bass pulses; the last chord a half step up (Phrygian).
    "tense": Mood(92, ((45, 52, 57, 60), (41, 48, 53, 57), (45, 52, 57, 60), (46, 53, 58, 62)),
                  pad=0.7, pad_filter="lowpass=f=700", tremolo=(60, 0.35),
                  pulse=Arp(0.25, (0,), decay=0.07, voices=1, harmonics=(0.45, 0.2), octave=0), pulse_level=1.0,
                  pulse_filter="lowpass=f=900"),
    # Ninths and suspensions, slow bell arpeggios ringing into each other through a long echo.
    "dreamy": Mood(72, ((53, 57, 64, 67), (48, 55, 62, 64), (45, 55, 59, 60), (43, 50, 57, 60)),
                   pad=0.6, pad_filter="lowpass=f=2000,chorus=0.6:0.8:50|70:0.4|0.3:@3|@4:2|1.5",
                   arp=Arp(0.5, (0, 2, 3, 1, 4, 2, 3, 4), decay=0.8, voices=3, harmonics=(0.2, 0.0, 0.08)),
                   arp_level=0.5, arp_filter="aecho=0.8:0.7:430|650:0.45|0.35"),
}


def mood_graph(name: str, seed: int, rate: int) -> str:
    """An ffmpeg filtergraph (no inputs) giving one loop of the mood's bed, stereo float at ``rate``.

    The expressions repeat every four bars, a whole number of samples at both rates; WARM_UP seconds
    more are drawn before the loop and dropped, so the echoes ring over the loop point as they will
    when the bed repeats. Filter LFOs are written ``@N`` (N cycles a loop) to come round with it.
    ``seed`` transposes the key (-2..+3 semitones) and turns the arpeggio.
    """
    mood = MOODS[name]
    shift = seed % 6 - 2
    chords = [tuple(note + shift for note in chord) for chord in mood.chords]
    loop = round(4 * mood.bar * SYNTH_RATES[0]) / SYNTH_RATES[0]
    bpm = 16 * 60 / loop
    turn = (seed // 6) % 4
    layers = [(*_pad(chords, loop, mood.tremolo), mood.pad, mood.pad_filter)]
    if mood.arp is not None:
        arp = Arp(mood.arp.step, mood.arp.pattern[turn:] + mood.arp.pattern[:turn], mood.arp.decay,
                  mood.arp.voices, mood.arp.harmonics, mood.arp.octave)
        layers.append((*_notes(chords, arp, bpm, _arp_note), mood.arp_level, mood.arp_filter))
    if mood.pulse is not None:
        layers.append((*_notes(chords, mood.pulse, bpm, _root_note), mood.pulse_level, mood.pulse_filter))
    top = SYNTH_RATES[-1]
    chains = [f"aevalsrc=exprs='{expr}':s={_rate_for(highest)}:d={loop + WARM_UP + 0.1:.6f},volume={level},"
              f"{_periodic(filters, loop)},aresample={top}[l{i}]"
              for i, (expr, highest, level, filters) in enumerate(layers)]
    joined = "".join(f"[l{i}]" for i in range(len(layers)))
    start = round(WARM_UP * rate)
    chains.append(f"{joined}amix=inputs={len(layers)}:normalize=0,aresample={rate},"
                  f"aformat=sample_fmts=flt:channel_layouts=stereo,adecorrelate=seed={seed % 1000},"
                  f"atrim=start_sample={start}:end_sample={start + round(loop * rate)},asetpts=PTS-STARTPTS")
    return ";".join(chains)


def _rate_for(highest: float) -> int:
    """The lowest synthesis rate whose band (with room for the resampler) holds ``highest`` Hz."""
    return next((rate for rate in SYNTH_RATES if highest < rate * 0.42), SYNTH_RATES[-1])


def _periodic(filters: str, loop: float) -> str:
    """``filters`` with each ``@N`` replaced by the frequency of N cycles a loop."""
    return re.sub(r"@(\d+)", lambda m: f"{int(m.group(1)) / loop:.5f}", filters)


def _pad(chords: Sequence[tuple[int, ...]], loop: float, tremolo: tuple[int, float]) -> tuple[str, float]:
    """Two layers of held chords, each fading in and out over a bar, half a bar apart: the sum never
    dips, and each layer changes chord only while it is silent (no clicks). Also its highest partial.

    The tremolo is drawn here rather than by ffmpeg's filter, whose period is rounded to whole samples
    and would not repeat exactly with the loop.
    """
    bar = loop / len(chords)
    cycles, depth = tremolo
    parts = []
    for layer in (0, 1):
        parts.append(f"st(0,t/{bar!r}+{layer / 2});st(1,floor(ld(0)));st(2,(ld(0)-ld(1))*{bar!r});"
                     f"st(3,mod(ld(1),{len(chords)}));st(6,0)")
        for voice in range(len(chords[0])):
            freq = _lookup("ld(3)", [_hz(chord[voice]) for chord in chords])
            parts.append(f"st(5,{freq});st(6,ld(6)+sin(2*PI*ld(5)*ld(2))+0.2*sin(4*PI*ld(5)*ld(2)))")
        parts.append(f"st({7 + layer},ld(6)*pow(sin(PI*(ld(0)-ld(1))),2)/{len(chords[0])})")
    parts.append(f"0.5*(ld(7)+ld(8))*(1-{depth / 2}+{depth / 2}*sin(2*PI*{cycles}*t/{loop!r}))")
    return ";".join(parts), 2 * max(_hz(note) for chord in chords for note in chord)


def _arp_note(chords: Sequence[tuple[int, ...]], arp: Arp, step: int, steps_per_bar: int) -> int:
    chord = chords[step // steps_per_bar % len(chords)]
    index = arp.pattern[step % len(arp.pattern)]
    return chord[index % len(chord)] + arp.octave * (1 + index // len(chord))


def _root_note(chords: Sequence[tuple[int, ...]], arp: Arp, step: int, steps_per_bar: int) -> int:
    return chords[step // steps_per_bar % len(chords)][0] + arp.octave


def _notes(chords: Sequence[tuple[int, ...]], arp: Arp, bpm: float,
           note_of: Callable[[Sequence[tuple[int, ...]], Arp, int, int], int]) -> tuple[str, float]:
    """Struck notes, one every ``arp.step`` beats, each ringing over ``arp.voices`` steps at most; and
    the highest partial.

    Voice ``v`` plays steps v, v+V, v+2V...; a note starts at phase zero with a 4 ms attack and ends
    with a 20 ms release before its voice strikes again, so nothing clicks.
    """
    step = arp.step * 60 / bpm
    steps_per_bar = round(4 / arp.step)
    count = steps_per_bar * len(chords)
    freqs = [_hz(note_of(chords, arp, i, steps_per_bar)) for i in range(count)]
    ring = arp.voices * step
    tone = "+".join(["sin(2*PI*ld(3)*ld(2))"] + [f"{h}*sin({2 * (k + 2)}*PI*ld(3)*ld(2))"
                                                  for k, h in enumerate(arp.harmonics) if h])
    parts = ["st(8,0)"]
    for voice in range(arp.voices):
        parts += [f"st(0,t/{step!r}-{voice}+{arp.voices})", f"st(1,floor(ld(0)/{arp.voices}))",
                  f"st(2,(ld(0)-ld(1)*{arp.voices})*{step!r})",
                  f"st(4,mod((ld(1)-1)*{arp.voices}+{voice}+{count},{count}))",
                  f"st(3,{_lookup('ld(4)', freqs)})",
                  f"st(8,ld(8)+({tone})*(1-exp(-ld(2)/0.004))*exp(-ld(2)/{arp.decay})"
                  f"*min(1,({ring!r}-ld(2))/0.02))"]
    parts.append("ld(8)")
    return ";".join(parts), max(freqs) * (1 + len(arp.harmonics))


def _lookup(index: str, values: Sequence[float], low: int = 0, high: int | None = None) -> str:
    """An expression giving ``values[index]`` by binary search (a few comparisons, not a chain)."""
    high = len(values) if high is None else high
    if len(set(values[low:high])) == 1:
        return f"{values[low]:.4f}"
    middle = (low + high) // 2
    return f"if(lt({index},{middle}),{_lookup(index, values, low, middle)},{_lookup(index, values, middle, high)})"


def _hz(note: int) -> float:
    return 440.0 * 2 ** ((note - 69) / 12)
