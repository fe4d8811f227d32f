"""Deterministic synthetic data for the offline `demo` profile.

Two generators, both pure functions of their arguments (no global RNG, no salted `hash()`):

- `demo_nli_rows(lang, split, size, seed)`: a 15-way parallel NLI corpus in the XNLI languages,
  written in their real scripts with real words from a small hand-made lexicon per language.
  Row i of a split is the same abstract row (concepts + label) in every language, rendered with
  that language's words and word order. The label is recoverable from the words, with the
  hypothesis-side cues annotators leave in real NLI (Gururangan et al. 2018): an entailed
  hypothesis restates (a shorter version of) the premise's subject, verb and object; a
  contradiction negates that restatement; most neutral hypotheses restate it and add information
  the premise does not give ("... with a friend", "... because of the rain"), the rest talk about
  another subject/object/action (sometimes negated, sometimes sharing one or two words with the
  premise). A negation cue plus an added-phrase cue is a strong but imperfect rule; the swapped
  neutrals need the premise.
- `demo_pretrain_documents(n, seed)`: English-only short stories, one document per line, built
  from a larger English vocabulary that contains every English NLI word and phrase.

Rows are prefix-stable: the first k rows of `size=n` equal the rows of `size=k`.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from functools import lru_cache

from regpt2.core.errors import UserError
from regpt2.core.languages import LABELS, XNLI_LANGUAGES, check_language

__all__ = [
    "SPLITS",
    "demo_languages",
    "demo_nli_rows",
    "demo_pretrain_documents",
]

SPLITS: tuple[str, ...] = ("train", "dev", "test")

N_SUBJECTS, N_OBJECTS, N_VERBS, N_PLACES, N_TIMES, N_ADJECTIVES = 12, 8, 6, 6, 4, 2
N_EXTRAS = 6
# Share of neutral hypotheses that restate the premise and add new information (the rest swap
# entities, the harder kind that needs comparing hypothesis and premise).
ADDED_INFORMATION_SHARE = 0.7

# ---------------------------------------------------------------------------------------------
# Lexicons. Concept order is shared by every language:
#   subjects: teacher doctor dog cat child farmer mother father girl boy student horse
#   objects:  apple book ball box bag hat chair bread
#   verbs:    saw bought found carried sold took
#   places:   park school home market city river
#   times:    yesterday today morning evening
#   adjectives (on the object): red new
#   extras (information a neutral hypothesis adds): with a friend, for the first time, again,
#           because of the rain, after a long walk, in a hurry
# A subject/object is (text, gender); an object's text marks the adjective slot with "|"
# ("the |apple"); "DEF~|INDEF" gives a separate form for use with an adjective (Bulgarian moves
# the article onto the adjective). An adjective or verb is a str, or a dict keyed by gender.
# Templates use {s} subject, {v} verb, {n} negated verb, {o} object, {p} place, {t} time,
# {x} added phrase.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Lexicon:
    subjects: tuple  # 12 x (text, gender)
    objects: tuple  # 8 x (text with "|", gender)
    verbs: tuple  # 6 x str | {gender: str}
    negated: tuple  # 6 x str | {gender: str}
    places: tuple  # 6 x str
    times: tuple  # 4 x str
    adjectives: tuple  # 2 x str | {gender: str}
    templates: tuple  # premise templates; the first is also the hypothesis template
    extras: tuple = ()  # 6 added-information phrases, in the concept order above
    neg_template: str = ""  # hypothesis template with negation; default: first with {v}->{n}
    extra_template: str = ""  # hypothesis template with an added phrase {x}; default: first + {x}
    adjective_first: bool = True  # adjective before the noun (else after)
    agree: str = ""  # verb agrees with "s" (subject) or "o" (object) gender; "" = invariant
    sep: str = " "  # word separator ("" for zh and th)
    end: str = "."  # sentence-final mark


def _neg(prefix: str, verbs: tuple) -> tuple:
    return tuple(
        {g: prefix + form for g, form in v.items()} if isinstance(v, dict) else prefix + v
        for v in verbs
    )


_SVO = ("{s} {v} {o} {p} {t}", "{t} {s} {v} {o} {p}", "{p} {s} {v} {o} {t}")

_HI_VERBS = (
    {"m": "देखा", "f": "देखी"},
    {"m": "खरीदा", "f": "खरीदी"},
    {"m": "पाया", "f": "पाई"},
    {"m": "उठाया", "f": "उठाई"},
    {"m": "बेचा", "f": "बेची"},
    {"m": "लिया", "f": "ली"},
)
_UR_VERBS = (
    {"m": "دیکھا", "f": "دیکھی"},
    {"m": "خریدا", "f": "خریدی"},
    {"m": "پایا", "f": "پائی"},
    {"m": "اٹھایا", "f": "اٹھائی"},
    {"m": "بیچا", "f": "بیچی"},
    {"m": "لیا", "f": "لی"},
)
_RU_VERBS = (
    {"m": "увидел", "f": "увидела"},
    {"m": "купил", "f": "купила"},
    {"m": "нашёл", "f": "нашла"},
    {"m": "нёс", "f": "несла"},
    {"m": "продал", "f": "продала"},
    {"m": "взял", "f": "взяла"},
)
_EL_VERBS = ("είδε", "αγόρασε", "βρήκε", "κουβάλησε", "πούλησε", "πήρε")
_ES_VERBS = ("vio", "compró", "encontró", "llevó", "vendió", "tomó")
_BG_VERBS = ("видя", "купи", "намери", "пренесе", "продаде", "взе")

_LEXICONS: dict[str, _Lexicon] = {
    "en": _Lexicon(
        subjects=tuple((w, "") for w in (
            "the teacher", "the doctor", "the dog", "the cat", "the child", "the farmer",
            "the mother", "the father", "the girl", "the boy", "the student", "the horse",
        )),
        objects=tuple((w, "") for w in (
            "the |apple", "the |book", "the |ball", "the |box", "the |bag", "the |hat",
            "the |chair", "the |bread",
        )),
        verbs=("saw", "bought", "found", "carried", "sold", "took"),
        negated=_neg("did not ", ("see", "buy", "find", "carry", "sell", "take")),
        places=("in the park", "at school", "at home", "at the market", "in the city",
                "by the river"),
        times=("yesterday", "today", "in the morning", "in the evening"),
        adjectives=("red", "new"),
        templates=_SVO,
        extras=("with a friend", "for the first time", "again",
                "because of the rain", "after a long walk", "in a hurry"),
    ),
    "fr": _Lexicon(
        subjects=(
            ("le professeur", "m"), ("le médecin", "m"), ("le chien", "m"), ("le chat", "m"),
            ("l'enfant", "m"), ("l'agriculteur", "m"), ("la mère", "f"), ("le père", "m"),
            ("la fille", "f"), ("le garçon", "m"), ("l'étudiant", "m"), ("le cheval", "m"),
        ),
        objects=(
            ("la pomme|", "f"), ("le livre|", "m"), ("le ballon|", "m"), ("la boîte|", "f"),
            ("le sac|", "m"), ("le chapeau|", "m"), ("la chaise|", "f"), ("le pain|", "m"),
        ),
        verbs=("a vu", "a acheté", "a trouvé", "a porté", "a vendu", "a pris"),
        negated=("n'a pas vu", "n'a pas acheté", "n'a pas trouvé", "n'a pas porté",
                 "n'a pas vendu", "n'a pas pris"),
        places=("dans le parc", "à l'école", "à la maison", "au marché", "en ville",
                "près de la rivière"),
        times=("hier", "aujourd'hui", "le matin", "le soir"),
        adjectives=("rouge", {"m": "neuf", "f": "neuve"}),
        templates=_SVO,
        extras=("avec un ami", "pour la première fois", "encore une fois",
                "à cause de la pluie", "après une longue promenade", "à la hâte"),
        adjective_first=False,
    ),
    "es": _Lexicon(
        subjects=(
            ("el profesor", "m"), ("el médico", "m"), ("el perro", "m"), ("el gato", "m"),
            ("el niño", "m"), ("el granjero", "m"), ("la madre", "f"), ("el padre", "m"),
            ("la niña", "f"), ("el muchacho", "m"), ("el estudiante", "m"), ("el caballo", "m"),
        ),
        objects=(
            ("la manzana|", "f"), ("el libro|", "m"), ("la pelota|", "f"), ("la caja|", "f"),
            ("el bolso|", "m"), ("el sombrero|", "m"), ("la silla|", "f"), ("el pan|", "m"),
        ),
        verbs=_ES_VERBS,
        negated=_neg("no ", _ES_VERBS),
        places=("en el parque", "en la escuela", "en casa", "en el mercado", "en la ciudad",
                "junto al río"),
        times=("ayer", "hoy", "por la mañana", "por la noche"),
        adjectives=({"m": "rojo", "f": "roja"}, {"m": "nuevo", "f": "nueva"}),
        templates=_SVO,
        extras=("con un amigo", "por primera vez", "otra vez",
                "a causa de la lluvia", "después de un largo paseo", "con prisa"),
        adjective_first=False,
    ),
    "de": _Lexicon(
        subjects=(
            ("der Lehrer", "m"), ("der Arzt", "m"), ("der Hund", "m"), ("die Katze", "f"),
            ("das Kind", "n"), ("der Bauer", "m"), ("die Mutter", "f"), ("der Vater", "m"),
            ("das Mädchen", "n"), ("der Junge", "m"), ("der Student", "m"), ("das Pferd", "n"),
        ),
        objects=(
            ("den |Apfel", "m"), ("das |Buch", "n"), ("den |Ball", "m"), ("die |Kiste", "f"),
            ("die |Tasche", "f"), ("den |Hut", "m"), ("den |Stuhl", "m"), ("das |Brot", "n"),
        ),
        verbs=("sah", "kaufte", "fand", "trug", "verkaufte", "nahm"),
        negated=("sah", "kaufte", "fand", "trug", "verkaufte", "nahm"),
        places=("im Park", "in der Schule", "zu Hause", "auf dem Markt", "in der Stadt",
                "am Fluss"),
        times=("gestern", "heute", "am Morgen", "am Abend"),
        adjectives=({"m": "roten", "f": "rote", "n": "rote"},
                    {"m": "neuen", "f": "neue", "n": "neue"}),
        templates=("{s} {v} {t} {o} {p}", "{t} {v} {s} {o} {p}", "{p} {v} {s} {t} {o}"),
        extras=("mit einem Freund", "zum ersten Mal", "wieder",
                "wegen des Regens", "nach einem langen Spaziergang", "in Eile"),
        neg_template="{s} {n} {t} {p} {o} nicht",
    ),
    "el": _Lexicon(
        subjects=(
            ("ο δάσκαλος", "m"), ("ο γιατρός", "m"), ("ο σκύλος", "m"), ("η γάτα", "f"),
            ("το παιδί", "n"), ("ο αγρότης", "m"), ("η μητέρα", "f"), ("ο πατέρας", "m"),
            ("το κορίτσι", "n"), ("το αγόρι", "n"), ("ο μαθητής", "m"), ("το άλογο", "n"),
        ),
        objects=(
            ("το |μήλο", "n"), ("το |βιβλίο", "n"), ("την |μπάλα", "f"), ("το |κουτί", "n"),
            ("την |τσάντα", "f"), ("το |καπέλο", "n"), ("την |καρέκλα", "f"),
            ("το |ψωμί", "n"),
        ),
        verbs=_EL_VERBS,
        negated=_neg("δεν ", _EL_VERBS),
        places=("στο πάρκο", "στο σχολείο", "στο σπίτι", "στην αγορά", "στην πόλη",
                "δίπλα στο ποτάμι"),
        times=("χθες", "σήμερα", "το πρωί", "το βράδυ"),
        adjectives=({"n": "κόκκινο", "f": "κόκκινη"}, {"n": "καινούργιο", "f": "καινούργια"}),
        templates=_SVO,
        extras=("με έναν φίλο", "για πρώτη φορά", "ξανά",
                "λόγω της βροχής", "μετά από μια μεγάλη βόλτα", "βιαστικά"),
    ),
    "bg": _Lexicon(
        subjects=(
            ("учителят", "m"), ("лекарят", "m"), ("кучето", "n"), ("котката", "f"),
            ("детето", "n"), ("фермерът", "m"), ("майката", "f"), ("бащата", "m"),
            ("момичето", "n"), ("момчето", "n"), ("студентът", "m"), ("конят", "m"),
        ),
        objects=(
            ("ябълката~|ябълка", "f"), ("книгата~|книга", "f"), ("топката~|топка", "f"),
            ("кутията~|кутия", "f"), ("чантата~|чанта", "f"), ("шапката~|шапка", "f"),
            ("стола~|стол", "m"), ("хляба~|хляб", "m"),
        ),
        verbs=_BG_VERBS,
        negated=_neg("не ", _BG_VERBS),
        places=("в парка", "в училището", "у дома", "на пазара", "в града", "до реката"),
        times=("вчера", "днес", "сутринта", "вечерта"),
        adjectives=({"m": "червения", "f": "червената"}, {"m": "новия", "f": "новата"}),
        templates=_SVO,
        extras=("с един приятел", "за първи път", "отново",
                "заради дъжда", "след дълга разходка", "набързо"),
    ),
    "ru": _Lexicon(
        subjects=(
            ("учитель", "m"), ("врач", "m"), ("собака", "f"), ("кошка", "f"),
            ("ребёнок", "m"), ("фермер", "m"), ("мать", "f"), ("отец", "m"),
            ("девочка", "f"), ("мальчик", "m"), ("студент", "m"), ("лошадь", "f"),
        ),
        objects=(
            ("|яблоко", "n"), ("|книгу", "f"), ("|мяч", "m"), ("|коробку", "f"),
            ("|сумку", "f"), ("|шляпу", "f"), ("|стул", "m"), ("|хлеб", "m"),
        ),
        verbs=_RU_VERBS,
        negated=_neg("не ", _RU_VERBS),
        places=("в парке", "в школе", "дома", "на рынке", "в городе", "у реки"),
        times=("вчера", "сегодня", "утром", "вечером"),
        adjectives=({"m": "красный", "f": "красную", "n": "красное"},
                    {"m": "новый", "f": "новую", "n": "новое"}),
        templates=("{s} {t} {v} {o} {p}", "{t} {s} {v} {o} {p}", "{p} {s} {v} {o} {t}"),
        extras=("с другом", "впервые", "снова", "из-за дождя", "после долгой прогулки", "в спешке"),
        agree="s",
    ),
    "tr": _Lexicon(
        subjects=tuple((w, "") for w in (
            "öğretmen", "doktor", "köpek", "kedi", "çocuk", "çiftçi",
            "anne", "baba", "kız", "oğlan", "öğrenci", "at",
        )),
        objects=tuple((w, "") for w in (
            "|elmayı", "|kitabı", "|topu", "|kutuyu", "|çantayı", "|şapkayı", "|sandalyeyi",
            "|ekmeği",
        )),
        verbs=("gördü", "satın aldı", "buldu", "taşıdı", "sattı", "götürdü"),
        negated=("görmedi", "satın almadı", "bulmadı", "taşımadı", "satmadı", "götürmedi"),
        places=("parkta", "okulda", "evde", "pazarda", "şehirde", "nehir kenarında"),
        times=("dün", "bugün", "sabah", "akşam"),
        adjectives=("kırmızı", "yeni"),
        templates=("{s} {t} {p} {o} {v}", "{t} {s} {p} {o} {v}", "{p} {s} {t} {o} {v}"),
        extras=("bir arkadaşıyla", "ilk kez", "yine",
                "yağmur yüzünden", "uzun bir yürüyüşten sonra", "aceleyle"),
        extra_template="{s} {t} {p} {x} {o} {v}",
    ),
    "ar": _Lexicon(
        subjects=(
            ("المعلم", "m"), ("الطبيب", "m"), ("الكلب", "m"), ("القطة", "f"),
            ("الطفل", "m"), ("المزارع", "m"), ("الأم", "f"), ("الأب", "m"),
            ("الفتاة", "f"), ("الولد", "m"), ("الطالب", "m"), ("الحصان", "m"),
        ),
        objects=(
            ("التفاحة|", "f"), ("الكتاب|", "m"), ("الكرة|", "f"), ("الصندوق|", "m"),
            ("الحقيبة|", "f"), ("القبعة|", "f"), ("الكرسي|", "m"), ("الخبز|", "m"),
        ),
        verbs=(
            {"m": "رأى", "f": "رأت"}, {"m": "اشترى", "f": "اشترت"}, {"m": "وجد", "f": "وجدت"},
            {"m": "حمل", "f": "حملت"}, {"m": "باع", "f": "باعت"}, {"m": "أخذ", "f": "أخذت"},
        ),
        negated=(
            {"m": "لم ير", "f": "لم تر"}, {"m": "لم يشتر", "f": "لم تشتر"},
            {"m": "لم يجد", "f": "لم تجد"}, {"m": "لم يحمل", "f": "لم تحمل"},
            {"m": "لم يبع", "f": "لم تبع"}, {"m": "لم يأخذ", "f": "لم تأخذ"},
        ),
        places=("في الحديقة", "في المدرسة", "في البيت", "في السوق", "في المدينة", "عند النهر"),
        times=("أمس", "اليوم", "في الصباح", "في المساء"),
        adjectives=({"m": "الأحمر", "f": "الحمراء"}, {"m": "الجديد", "f": "الجديدة"}),
        templates=_SVO,
        extras=("مع صديق", "لأول مرة", "مرة أخرى", "بسبب المطر", "بعد نزهة طويلة", "على عجل"),
        adjective_first=False,
        agree="s",
    ),
    "vi": _Lexicon(
        subjects=tuple((w, "") for w in (
            "giáo viên", "bác sĩ", "con chó", "con mèo", "đứa trẻ", "người nông dân",
            "người mẹ", "người cha", "cô gái", "cậu bé", "sinh viên", "con ngựa",
        )),
        objects=tuple((w, "") for w in (
            "quả táo|", "cuốn sách|", "quả bóng|", "cái hộp|", "cái túi|", "cái mũ|",
            "cái ghế|", "ổ bánh mì|",
        )),
        verbs=("đã thấy", "đã mua", "đã tìm thấy", "đã mang", "đã bán", "đã lấy"),
        negated=_neg("không ", ("thấy", "mua", "tìm thấy", "mang", "bán", "lấy")),
        places=("ở công viên", "ở trường", "ở nhà", "ở chợ", "ở thành phố", "bên sông"),
        times=("hôm qua", "hôm nay", "vào buổi sáng", "vào buổi tối"),
        adjectives=("đỏ", "mới"),
        templates=_SVO,
        extras=("cùng một người bạn", "lần đầu tiên", "một lần nữa",
                "vì trời mưa", "sau một chuyến đi dạo dài", "một cách vội vàng"),
        adjective_first=False,
    ),
    "th": _Lexicon(
        subjects=tuple((w, "") for w in (
            "ครู", "หมอ", "สุนัข", "แมว", "เด็ก", "ชาวนา",
            "แม่", "พ่อ", "เด็กผู้หญิง", "เด็กผู้ชาย", "นักเรียน", "ม้า",
        )),
        objects=tuple((w, "") for w in (
            "แอปเปิล|", "หนังสือ|", "ลูกบอล|", "กล่อง|", "กระเป๋า|", "หมวก|", "เก้าอี้|",
            "ขนมปัง|",
        )),
        verbs=("เห็น", "ซื้อ", "พบ", "ถือ", "ขาย", "หยิบ"),
        negated=_neg("ไม่ได้", ("เห็น", "ซื้อ", "พบ", "ถือ", "ขาย", "หยิบ")),
        places=("ที่สวนสาธารณะ", "ที่โรงเรียน", "ที่บ้าน", "ที่ตลาด", "ในเมือง", "ริมแม่น้ำ"),
        times=("เมื่อวานนี้", "วันนี้", "ตอนเช้า", "ตอนเย็น"),
        adjectives=("สีแดง", "ใหม่"),
        templates=("{s}{v}{o}{p}{t}", "{t}{s}{v}{o}{p}", "{p}{s}{v}{o}{t}"),
        extras=("กับเพื่อน", "เป็นครั้งแรก", "อีกครั้ง",
                "เพราะฝนตก", "หลังจากเดินเล่นนาน", "อย่างรีบร้อน"),
        extra_template="{s}{v}{o}{p}{t}{x}",
        adjective_first=False,
        sep="",
        end="",
    ),
    "zh": _Lexicon(
        subjects=tuple((w, "") for w in (
            "老师", "医生", "狗", "猫", "孩子", "农民",
            "母亲", "父亲", "女孩", "男孩", "学生", "马",
        )),
        objects=tuple((w, "") for w in (
            "|苹果", "|书", "|球", "|箱子", "|包", "|帽子", "|椅子", "|面包",
        )),
        verbs=("看见了", "买了", "找到了", "搬了", "卖了", "拿走了"),
        negated=_neg("没", ("看见", "买", "找到", "搬", "卖", "拿走")),
        places=("在公园", "在学校", "在家", "在市场", "在城里", "在河边"),
        times=("昨天", "今天", "早上", "晚上"),
        adjectives=("红色的", "新的"),
        templates=("{s}{t}{p}{v}{o}", "{t}{s}{p}{v}{o}", "{p}{s}{t}{v}{o}"),
        extras=("和一个朋友一起", "第一次", "又", "因为下雨", "长时间散步后", "匆匆忙忙地"),
        extra_template="{s}{t}{x}{p}{v}{o}",
        sep="",
        end="。",
    ),
    "hi": _Lexicon(
        subjects=tuple((w, "") for w in (
            "शिक्षक ने", "डॉक्टर ने", "कुत्ते ने", "बिल्ली ने", "बच्चे ने", "किसान ने",
            "माँ ने", "पिता ने", "लड़की ने", "लड़के ने", "छात्र ने", "घोड़े ने",
        )),
        objects=(
            ("|सेब", "m"), ("|किताब", "f"), ("|गेंद", "f"), ("|डिब्बा", "m"),
            ("|थैला", "m"), ("|टोपी", "f"), ("|कुर्सी", "f"), ("|रोटी", "f"),
        ),
        verbs=_HI_VERBS,
        negated=_neg("नहीं ", _HI_VERBS),
        places=("पार्क में", "स्कूल में", "घर पर", "बाज़ार में", "शहर में", "नदी के किनारे"),
        times=("कल", "आज", "सुबह", "शाम को"),
        adjectives=("लाल", {"m": "नया", "f": "नई"}),
        templates=("{s} {t} {p} {o} {v}", "{t} {s} {p} {o} {v}", "{p} {s} {t} {o} {v}"),
        extras=("एक दोस्त के साथ", "पहली बार", "फिर से",
                "बारिश की वजह से", "लंबी सैर के बाद", "जल्दी में"),
        extra_template="{s} {t} {p} {x} {o} {v}",
        agree="o",
        end="।",
    ),
    "sw": _Lexicon(
        subjects=tuple((w, "") for w in (
            "mwalimu", "daktari", "mbwa", "paka", "mtoto", "mkulima",
            "mama", "baba", "msichana", "mvulana", "mwanafunzi", "farasi",
        )),
        objects=(
            ("tufaha|", "5"), ("kitabu|", "7"), ("mpira|", "3"), ("sanduku|", "9"),
            ("mfuko|", "3"), ("kofia|", "9"), ("kiti|", "7"), ("mkate|", "3"),
        ),
        verbs=("aliona", "alinunua", "alipata", "alibeba", "aliuza", "alichukua"),
        negated=("hakuona", "hakununua", "hakupata", "hakubeba", "hakuuza", "hakuchukua"),
        places=("bustanini", "shuleni", "nyumbani", "sokoni", "mjini", "karibu na mto"),
        times=("jana", "leo", "asubuhi", "jioni"),
        adjectives=({"5": "jekundu", "7": "chekundu", "3": "mwekundu", "9": "nyekundu"},
                    {"5": "jipya", "7": "kipya", "3": "mpya", "9": "mpya"}),
        templates=_SVO,
        extras=("pamoja na rafiki", "kwa mara ya kwanza", "tena",
                "kwa sababu ya mvua", "baada ya matembezi marefu", "kwa haraka"),
        adjective_first=False,
    ),
    "ur": _Lexicon(
        subjects=tuple((w, "") for w in (
            "استاد نے", "ڈاکٹر نے", "کتے نے", "بلی نے", "بچے نے", "کسان نے",
            "ماں نے", "والد نے", "لڑکی نے", "لڑکے نے", "طالب علم نے", "گھوڑے نے",
        )),
        objects=(
            ("|سیب", "m"), ("|کتاب", "f"), ("|گیند", "f"), ("|ڈبہ", "m"),
            ("|تھیلا", "m"), ("|ٹوپی", "f"), ("|کرسی", "f"), ("|روٹی", "f"),
        ),
        verbs=_UR_VERBS,
        negated=_neg("نہیں ", _UR_VERBS),
        places=("پارک میں", "اسکول میں", "گھر پر", "بازار میں", "شہر میں", "دریا کے کنارے"),
        times=("کل", "آج", "صبح", "شام کو"),
        adjectives=("لال", {"m": "نیا", "f": "نئی"}),
        templates=("{s} {t} {p} {o} {v}", "{t} {s} {p} {o} {v}", "{p} {s} {t} {o} {v}"),
        extras=("ایک دوست کے ساتھ", "پہلی بار", "دوبارہ",
                "بارش کی وجہ سے", "لمبی سیر کے بعد", "جلدی میں"),
        extra_template="{s} {t} {p} {x} {o} {v}",
        agree="o",
        end="۔",
    ),
}  # fmt: skip


def demo_languages() -> tuple[str, ...]:
    """The 15 XNLI languages the demo corpus covers, in XNLI order."""
    return tuple(XNLI_LANGUAGES)


# ---------------------------------------------------------------------------------------------
# Abstract rows
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    label: str
    subject: int
    verb: int
    obj: int
    place: int
    time: int  # -1: none
    adjective: int  # -1: none
    order: int  # premise template index (mod the language's template count)
    h_subject: int
    h_verb: int
    h_obj: int
    h_adjective: int  # -1: none
    h_negated: bool
    h_place: bool
    h_time: bool
    h_extra: int = -1  # added-information phrase; -1: none


def _stable_seed(*parts: object) -> int:
    digest = hashlib.sha256("|".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def _pick(rng: random.Random, n: int) -> int:
    # Only rng.random() is used: its stream is fixed for a given seed on every platform.
    return min(int(rng.random() * n), n - 1)


def _other(rng: random.Random, n: int, avoid: int) -> int:
    return (avoid + 1 + _pick(rng, n - 1)) % n


def _abstract_row(rng: random.Random, label: str) -> _Row:
    subject, verb, obj = _pick(rng, N_SUBJECTS), _pick(rng, N_VERBS), _pick(rng, N_OBJECTS)
    place = _pick(rng, N_PLACES)
    time = _pick(rng, N_TIMES) if rng.random() < 0.6 else -1
    adjective = _pick(rng, N_ADJECTIVES) if rng.random() < 0.4 else -1
    order = _pick(rng, 6)
    extra = rng.random()
    h_place = extra < 0.3
    h_time = 0.3 <= extra < 0.5 and time >= 0
    h_subject, h_verb, h_obj = subject, verb, obj
    h_adjective = adjective if adjective >= 0 and rng.random() < 0.5 else -1
    h_negated = label == "contradiction"
    h_extra = -1
    if label == "neutral" and rng.random() < ADDED_INFORMATION_SHARE:
        # A restatement that adds what the premise does not say (a companion, a cause, a
        # repetition, a manner): the commonest kind of neutral hypothesis annotators write.
        h_extra = _pick(rng, N_EXTRAS)
    elif label == "neutral":
        kind = _pick(rng, 4)
        if kind == 0:  # someone else did the same thing to something else
            h_subject, h_obj = _other(rng, N_SUBJECTS, subject), _other(rng, N_OBJECTS, obj)
        elif kind == 1:  # the same subject did something else to something else
            h_verb, h_obj = _other(rng, N_VERBS, verb), _other(rng, N_OBJECTS, obj)
        elif kind == 2:  # someone else did something else to the same object
            h_subject, h_verb = _other(rng, N_SUBJECTS, subject), _other(rng, N_VERBS, verb)
        else:  # the same subject did something else to the same object
            h_verb = _other(rng, N_VERBS, verb)
        if h_obj != obj:
            h_adjective = _pick(rng, N_ADJECTIVES) if rng.random() < 0.25 else -1
        h_negated = kind != 3 and rng.random() < 0.3
    return _Row(
        label, subject, verb, obj, place, time, adjective, order,
        h_subject, h_verb, h_obj, h_adjective, h_negated, h_place, h_time, h_extra,
    )  # fmt: skip


@lru_cache(maxsize=16)
def _abstract_rows(split: str, size: int, seed: int) -> tuple[_Row, ...]:
    rng = random.Random(_stable_seed("regpt2-demo-nli", split, seed))
    rows: list[_Row] = []
    while len(rows) < size:
        labels = list(LABELS)  # each block of 3 rows holds every label once, in random order
        for i in (2, 1):
            j = _pick(rng, i + 1)
            labels[i], labels[j] = labels[j], labels[i]
        for label in labels:
            if len(rows) < size:
                rows.append(_abstract_row(rng, label))
    return tuple(rows)


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def _form(entry: str | dict, gender: str) -> str:
    return entry[gender] if isinstance(entry, dict) else entry


def _object(lex: _Lexicon, index: int, adjective: int) -> str:
    text, gender = lex.objects[index]
    plain, _, with_adjective = text.partition("~")
    if adjective < 0:
        return plain.replace("|", "")
    slot = with_adjective or plain
    word = _form(lex.adjectives[adjective], gender)
    filler = word + lex.sep if lex.adjective_first else lex.sep + word
    return slot.replace("|", filler)


def _sentence(lex: _Lexicon, template: str, slots: dict[str, str], lang: str) -> str:
    text = template.format(**slots)
    if lex.sep:
        text = " ".join(text.split())
    first = text[:1]
    first = "İ" if lang == "tr" and first == "i" else first.upper()
    return first + text[1:] + lex.end


def _premise_template(lex: _Lexicon, row: _Row) -> str:
    template = lex.templates[row.order % len(lex.templates)]
    if row.time < 0 and template.startswith("{t}"):
        return lex.templates[0]  # a fronted time slot left empty would break the word order
    return template


def _render(lex: _Lexicon, row: _Row, lang: str) -> tuple[str, str]:
    subject, s_gender = lex.subjects[row.subject]
    key = s_gender if lex.agree == "s" else lex.objects[row.obj][1]
    premise = _sentence(
        lex,
        _premise_template(lex, row),
        {
            "s": subject,
            "v": _form(lex.verbs[row.verb], key),
            "o": _object(lex, row.obj, row.adjective),
            "p": lex.places[row.place],
            "t": lex.times[row.time] if row.time >= 0 else "",
        },
        lang,
    )
    h_subject, h_gender = lex.subjects[row.h_subject]
    h_key = h_gender if lex.agree == "s" else lex.objects[row.h_obj][1]
    table = lex.negated if row.h_negated else lex.verbs
    verb = _form(table[row.h_verb], h_key)
    if row.h_negated:
        template = lex.neg_template or lex.templates[0].replace("{v}", "{n}")
    elif row.h_extra >= 0:
        template = lex.extra_template or lex.templates[0] + lex.sep + "{x}"
    else:
        template = lex.templates[0]
    hypothesis = _sentence(
        lex,
        template,
        {
            "s": h_subject,
            "v": verb,
            "n": verb,
            "o": _object(lex, row.h_obj, row.h_adjective),
            "p": lex.places[row.place] if row.h_place else "",
            "t": lex.times[row.time] if row.h_time else "",
            "x": lex.extras[row.h_extra] if row.h_extra >= 0 else "",
        },
        lang,
    )
    return premise, hypothesis


def demo_nli_rows(lang: str, split: str, size: int, seed: int = 0) -> list[dict]:
    """`size` synthetic NLI rows {premise, hypothesis, label} in `lang`.

    Row i is the same abstract example in every language (a parallel corpus); splits and seeds
    are independent draws; each block of three consecutive rows holds each label once.
    """
    check_language(lang)
    if split not in SPLITS:
        raise UserError(f"unknown demo split {split!r}; use one of: {', '.join(SPLITS)}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise UserError(f"demo NLI size must be a non-negative integer, got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UserError(f"demo seed must be an integer, got {seed!r}")
    lex = _LEXICONS[lang]
    rows = []
    for row in _abstract_rows(split, size, seed):
        premise, hypothesis = _render(lex, row, lang)
        rows.append({"premise": premise, "hypothesis": hypothesis, "label": row.label})
    return rows


# ---------------------------------------------------------------------------------------------
# English pretraining documents
# ---------------------------------------------------------------------------------------------

_EN = _LEXICONS["en"]
_CHARACTERS: tuple[tuple[str, str], ...] = tuple(
    zip((s for s, _ in _EN.subjects), ("he", "she", "it", "it", "it", "he",
                                       "she", "he", "she", "he", "she", "it"), strict=True)
) + (
    ("the baker", "she"), ("the old man", "he"), ("the young woman", "she"),
    ("the sailor", "he"), ("the king", "he"), ("the queen", "she"), ("the bird", "it"),
    ("the fox", "it"), ("the rabbit", "it"), ("the nurse", "she"), ("the driver", "he"),
    ("the painter", "he"), ("the singer", "he"), ("the soldier", "she"), ("the neighbor", "he"),
    ("the cook", "he"), ("Anna", "she"), ("Tom", "he"), ("Maria", "she"), ("Sam", "he"),
    ("Lena", "she"), ("Omar", "he"), ("Mei", "she"), ("Ravi", "he"),
)  # fmt: skip
_THINGS: tuple[str, ...] = tuple(o.replace("the |", "") for o, _ in _EN.objects) + (
    "cup", "lamp", "key", "coat", "basket", "flower", "stone", "rope", "letter", "map",
    "coin", "knife", "bottle", "blanket", "candle", "shoe", "window", "door", "boat", "song",
)  # fmt: skip
_ADJECTIVES: tuple[str, ...] = tuple(_EN.adjectives) + (
    "big", "old", "small", "blue", "green", "heavy", "soft", "bright", "warm", "cold",
    "broken", "wooden", "clean", "dirty", "strange", "beautiful",
)  # fmt: skip
# (past, base)
_TRANSITIVE: tuple[tuple[str, str], ...] = tuple(
    zip(_EN.verbs, [v.removeprefix("did not ") for v in _EN.negated], strict=True)
) + (
    ("opened", "open"), ("closed", "close"), ("cleaned", "clean"), ("painted", "paint"),
    ("lost", "lose"), ("kept", "keep"), ("brought", "bring"), ("dropped", "drop"),
    ("held", "hold"), ("made", "make"), ("fixed", "fix"), ("washed", "wash"),
    ("watched", "watch"), ("wanted", "want"),
)  # fmt: skip
_INTRANSITIVE: tuple[str, ...] = (
    "walked", "ran", "slept", "laughed", "waited", "sang", "rested", "smiled", "worked",
    "played", "stayed", "danced", "sat", "cried",
)  # fmt: skip
_PLACES: tuple[str, ...] = tuple(_EN.places) + (
    "in the forest", "on the hill", "at the station", "in the garden", "at the library",
    "near the bridge", "in the kitchen", "at the beach", "in the village", "on the road",
)  # fmt: skip
_TIMES: tuple[str, ...] = tuple(_EN.times) + (
    "at night", "last week", "on Monday", "after lunch", "before dinner", "every day",
    "later", "at noon",
)  # fmt: skip
# Circumstances a sentence can add (the NLI neutral phrases among them).
_EXTRAS: tuple[str, ...] = tuple(_EN.extras) + (
    "with a smile", "for a long time", "because of the noise", "after a short rest",
    "with great care", "for the second time", "in the dark", "with a neighbor",
)  # fmt: skip
_FEELINGS: tuple[str, ...] = (
    "happy", "tired", "hungry", "sad", "angry", "calm", "surprised", "proud", "afraid",
    "busy",
)  # fmt: skip
_OPENINGS = (
    "One day, {P} {vi} {place}.",
    "{P} lived {place} with {O}.",
    "{Time}, {P} {vt} a {adj} {thing} {place}.",
    "This is a story about {P} and a {thing}.",
)
_MIDDLES = (
    "{P} {vt} the {adj} {thing} {place}.",
    "{Time}, {pr} {vi} {place}.",
    "{Pr} was {feel} because {pr} did not {vb} the {thing}.",
    "Then {pr} {vt} the {thing} and {vt2} the {thing2}.",
    "{P} gave the {thing} to {O}.",
    "{O} {vt} the {adj} {thing} {time}.",
    "The {thing} was {adj}, so {pr} {vt} it.",
    "{P} did not {vb} the {thing} {time}.",
    "{Pr} {vi} {place} with {O}.",
    "After that, {pr} {vi} and {vi2}.",
    "{O} said that the {thing} was very {adj}.",
    "{Pr} {vt} a {thing} {place} {time}.",
    "{O} was {feel}, but {pr} {vi} {place}.",
    "{Pr} wanted to {vb} the {adj} {thing}.",
    "{P} {vt} the {thing} {extra}.",
    "{Extra}, {pr} {vi} {place}.",
)
_ENDINGS = (
    "In the end, {pr} {vi} {place}.",
    "{Time}, {P} was {feel} again.",
    "That was the last time {pr} saw the {thing}.",
)


_ARTICLE_AN = re.compile(r"\b([Aa]) ([aeiou])")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _document(rng: random.Random) -> str:
    character, pronoun = _CHARACTERS[_pick(rng, len(_CHARACTERS))]

    def choose(options: tuple) -> object:
        return options[_pick(rng, len(options))]

    def fill(template: str, first: bool) -> str:
        other = _CHARACTERS[_pick(rng, len(_CHARACTERS))][0]
        verb, base = choose(_TRANSITIVE)
        time = choose(_TIMES)
        extra = choose(_EXTRAS)
        # Start with the character's name; later sentences mostly use the pronoun.
        subject = character if first or rng.random() < 0.3 else pronoun
        text = template.format(
            P=subject,
            Pr=pronoun,
            pr=pronoun,
            O=other,
            vt=verb,
            vb=base,
            vt2=choose(_TRANSITIVE)[0],
            vi=choose(_INTRANSITIVE),
            vi2=choose(_INTRANSITIVE),
            thing=choose(_THINGS),
            thing2=choose(_THINGS),
            adj=choose(_ADJECTIVES),
            feel=choose(_FEELINGS),
            place=choose(_PLACES),
            time=time,
            Time=_cap(time),
            extra=extra,
            Extra=_cap(extra),
        )
        return _cap(text)

    sentences = [fill(choose(_OPENINGS), first=True)]
    for _ in range(6 + _pick(rng, 9)):
        sentences.append(fill(choose(_MIDDLES), first=False))
    if rng.random() < 0.7:
        sentences.append(fill(choose(_ENDINGS), first=False))
    return _ARTICLE_AN.sub(r"\1n \2", " ".join(sentences))


def demo_pretrain_documents(n_documents: int, seed: int = 0) -> list[str]:
    """`n_documents` English synthetic stories (one line each, ~60-120 words on average)."""
    if isinstance(n_documents, bool) or not isinstance(n_documents, int) or n_documents < 0:
        raise UserError(f"demo document count must be a non-negative integer, got {n_documents!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UserError(f"demo seed must be an integer, got {seed!r}")
    rng = random.Random(_stable_seed("regpt2-demo-pretrain", seed))
    return [_document(rng) for _ in range(n_documents)]
