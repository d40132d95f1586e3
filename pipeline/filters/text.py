"""Punctuation and sentence ends as datatrove (FineWeb's code) defines them.

The Gopher and FineWeb rules count symbols and sentence-ending lines by these
sets; they are datatrove's (datatrove.utils.text, Apache-2.0), copied as data.
"""
from __future__ import annotations

# Unicode's sentence terminals (the Sentence_Terminal property): "." "!" "?" and their
# counterparts in other scripts. A FineWeb line "ends a sentence" if it ends in one.
TERMINAL_PUNCTUATION = tuple(
    '!.?։؝؞؟۔܀܁܂߹࠷࠹࠽࠾।॥၊။።፧፨᙮᜵᜶។៕៖៙៚᠃᠉᥄᥅᪨᪩᪪᪫᭚'
    '᭛᭞᭟᭽᭾᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼⹓⹔。꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗'
    '！．？｡𐩖𐩗𐽕𐽖𐽗𐽘𐽙𐾆𐾇𐾈𐾉𑁇𑁈𑂾𑂿𑃀𑃁𑅁𑅂𑅃𑇅𑇆𑇍𑇞𑇟𑈸𑈹𑈻𑈼𑊩𑑋𑑌𑗂𑗃𑗉𑗊'
    '𑗋𑗌𑗍𑗎𑗏𑗐𑗑𑗒𑗓𑗔𑗕𑗖𑗗𑙁𑙂𑜼𑜽𑜾𑥄𑥆𑩂𑩃𑪛𑪜𑱁𑱂𑻷𑻸\U00011f43\U00011f44𖩮𖩯𖫵𖬷𖬸𖭄𖺘𛲟𝪈'
)
# A token made only of these is a symbol, not a word (Gopher quality): ASCII and CJK
# punctuation, some symbols, the fullwidth digit one (as datatrove has it), control characters.
PUNCTUATION = frozenset('!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„\';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_."}►»'
                        + "".join(map(chr, [*range(0, 9), *range(11, 32), *range(127, 160)]))
                        ) | set(TERMINAL_PUNCTUATION)

