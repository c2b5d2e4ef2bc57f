from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .models import Note


def index(request):
    return render(request, 'notes/index.html', {'notes': Note.objects.all()[:50]})


@csrf_exempt
@require_http_methods(['GET', 'POST'])
def api_notes(request):
    if request.method == 'POST':
        text = request.POST.get('text', '').strip()
        if not text:
            return JsonResponse({'error': 'text is required'}, status=400)
        note = Note.objects.create(text=text)
        return JsonResponse({'id': note.id}, status=201)
    notes = [{'id': n.id, 'text': n.text} for n in Note.objects.order_by('id')]
    return JsonResponse({'count': len(notes), 'notes': notes})
